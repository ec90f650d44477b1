"""A service's declared Python dependencies, and which one a missing module belongs to (pure).

The service's own ``pyproject.toml`` is the declaration: ``[project] dependencies`` are
**required**; each ``[project.optional-dependencies]`` extra is an **optional** feature whose
name is the feature flag that switches it off. An import name is matched to a distribution by
its top-level package, with names normalised as PEP 503 does (``Fancy_Recs`` = ``fancy-recs``),
an explicit ``modules`` mapping first, then a short table of well-known mismatches
(``yaml`` → ``pyyaml``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = (
    "KNOWN_DISTRIBUTIONS",
    "REQUIREMENT",
    "Classification",
    "Declared",
    "canonical",
    "classify",
    "flag_name",
    "read_declared",
    "requirement_name",
)

Kind = Literal["optional", "required", "unknown"]

REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
    r"(?P<extras>\[\s*[A-Za-z0-9._-]+(?:\s*,\s*[A-Za-z0-9._-]+)*\s*\])?"
    r"(?P<spec>\s*(?:===|==|!=|~=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+"
    r"(?:\s*,\s*(?:===|==|!=|~=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+)*)?$"
)
"""What may be installed: ``name[extras]`` and version specifiers, nothing else (no URL, no
path, no pip option, no environment marker)."""

KNOWN_DISTRIBUTIONS: Mapping[str, str] = {
    "attr": "attrs",
    "bs4": "beautifulsoup4",
    "crypto": "pycryptodome",
    "cv2": "opencv-python",
    "dateutil": "python-dateutil",
    "docx": "python-docx",
    "dotenv": "python-dotenv",
    "fitz": "pymupdf",
    "git": "gitpython",
    "jwt": "pyjwt",
    "magic": "python-magic",
    "mysqldb": "mysqlclient",
    "openssl": "pyopenssl",
    "pil": "pillow",
    "serial": "pyserial",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "zmq": "pyzmq",
}
"""Top-level import names (canonical) whose distribution has another name."""

_FLAG = re.compile(r"^[a-z_]+$")


def canonical(name: str) -> str:
    """PEP 503 normalisation: ``Fancy_Recs.v2`` → ``fancy-recs-v2``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def flag_name(extra: str) -> str:
    """The feature flag of an extra: its canonical name with ``_`` for ``-`` (``fancy_recs``)."""
    return canonical(extra).replace("-", "_")


def requirement_name(requirement: str) -> str | None:
    """The distribution a PEP 508 requirement names (markers and URLs allowed), or None."""
    match = re.match(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)", requirement)
    return match.group(1) if match else None


def installable(requirement: str) -> str | None:
    """``requirement`` without its environment marker, when :data:`REQUIREMENT` accepts it."""
    text = requirement.split(";", 1)[0].strip()
    return text if REQUIREMENT.fullmatch(text) else None


@dataclass(frozen=True, slots=True)
class Declared:
    """The dependencies a service declares: canonical name → (requirement, feature or None)."""

    required: dict[str, str] = field(default_factory=dict)
    """Canonical distribution name → the requirement as declared."""
    optional: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Canonical distribution name → (requirement as declared, feature flag)."""

    def to_json(self) -> dict[str, Any]:
        """For the step's outputs."""
        return {
            "required": sorted(self.required),
            "optional": {name: feature for name, (_, feature) in sorted(self.optional.items())},
        }


def read_declared(
    pyproject: Path | None,
    *,
    required: Iterable[str] = (),
    optional: Mapping[str, str] | None = None,
) -> Declared:
    """What ``pyproject`` declares, plus explicit ``required`` names and ``optional`` features.

    Explicit declarations win over the file; a distribution both required and in an extra is
    required (installing it is the only fix that keeps the service whole).

    Raises:
        ValueError: the file cannot be read or is not valid TOML (the message says which).
    """
    declared = Declared()
    if pyproject is not None:
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"cannot read {pyproject}: {exc}"
            raise ValueError(msg) from exc
        except tomllib.TOMLDecodeError as exc:
            msg = f"{pyproject} is not valid TOML: {exc}"
            raise ValueError(msg) from exc
        raw = data.get("project")
        project: dict[str, Any] = raw if isinstance(raw, dict) else {}
        extras = project.get("optional-dependencies", {})
        for extra, reqs in extras.items() if isinstance(extras, dict) else []:
            for req in reqs if isinstance(reqs, list) else []:
                name = requirement_name(str(req))
                if name is not None:
                    declared.optional.setdefault(canonical(name), (str(req), flag_name(extra)))
        deps = project.get("dependencies", [])
        for req in deps if isinstance(deps, list) else []:
            name = requirement_name(str(req))
            if name is not None:
                declared.required[canonical(name)] = str(req)
    for name, feature in (optional or {}).items():
        key = canonical(name)
        declared.required.pop(key, None)
        declared.optional[key] = (name, feature)
    for req in required:
        name = requirement_name(req)
        if name is not None:
            declared.optional.pop(canonical(name), None)
            declared.required[canonical(name)] = req
    for key in declared.required:
        declared.optional.pop(key, None)
    return declared


@dataclass(frozen=True, slots=True)
class Classification:
    """What a missing module is to the service."""

    module: str
    top_level: str
    kind: Kind
    reason: str
    distribution: str = ""
    feature: str = ""
    requirement: str = ""


def candidates(module: str, modules: Mapping[str, str]) -> list[str]:
    """Canonical distribution names that could provide ``module``, most specific first."""
    top = module.split(".", 1)[0]
    explicit = {canonical(k): v for k, v in modules.items()}
    names = [explicit.get(canonical(module)), explicit.get(canonical(top))]
    key = canonical(top)
    names += [KNOWN_DISTRIBUTIONS.get(key), key, f"python-{key}", f"py{key}"]
    seen: list[str] = []
    for name in names:
        if name and canonical(name) not in seen:
            seen.append(canonical(name))
    return seen


def classify(module: str, declared: Declared, *, modules: Mapping[str, str]) -> Classification:
    """Optional, required or unknown: which declared distribution provides ``module``."""
    top = module.split(".", 1)[0]
    if not module:
        return Classification(
            module,
            top,
            "unknown",
            "the error names no missing module (an ImportError such as 'cannot import name' or a shared library that fails to load)",
        )
    for name in candidates(module, modules):
        if name in declared.required:
            req = declared.required[name]
            text = installable(req)
            if text is None:
                reason = (
                    f"{module!r} comes from the required dependency {req!r}, which is not a plain "
                    "'name[extras] specifiers' requirement (a URL or a path): install it by hand"
                )
                return Classification(module, top, "unknown", reason, distribution=name)
            reason = f"{module!r} comes from {name!r}, a required dependency ({req!r})"
            return Classification(
                module, top, "required", reason, distribution=name, requirement=text
            )
        if name in declared.optional:
            req, feature = declared.optional[name]
            if not _FLAG.fullmatch(feature):
                reason = (
                    f"{module!r} comes from {name!r}, in the optional feature {feature!r}, whose "
                    "name is not a flag name (a-z and _ only): map it with vars.optional"
                )
                return Classification(module, top, "unknown", reason, distribution=name)
            reason = f"{module!r} comes from {name!r}, part of the optional feature {feature!r}"
            return Classification(
                module, top, "optional", reason, distribution=name, feature=feature
            )
    reason = (
        f"{module!r} (top-level {top!r}) is not provided by any declared dependency "
        f"(tried {', '.join(candidates(module, modules))}); map it with vars.modules if its "
        "distribution has another name"
    )
    return Classification(module, top, "unknown", reason)
