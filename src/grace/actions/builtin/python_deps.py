"""``python.classify_import`` and ``python.install``: a missing module, judged and installed.

``python.classify_import`` reads the service's own ``pyproject.toml`` and says whether the
module that failed to import is **optional** (in an extra: the extra's name is the feature
flag to switch off), **required** (in ``[project] dependencies``) or **unknown**. It only
reads. ``python.install`` installs one validated requirement into the service's own
virtualenv with pip — never Grace's, never the system's — with a bounded timeout, after
recording the venv's packages so the change can be undone. docs/library/missing_module_recovery.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from pydantic import AfterValidator, Field

from grace.actions._base import ActionContext, ActionResult, action
from grace.actions.builtin._atomic import write_atomic
from grace.actions.builtin._params import BuiltinParams, FilePath, Seconds
from grace.actions.builtin._pydeps import (
    REQUIREMENT,
    Classification,
    canonical,
    classify,
    read_declared,
)
from grace.errors import ActionError

__all__ = ("ClassifyImportParams", "InstallParams", "classify_import", "install_requirement")

MODULE_PATTERN = r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$"
OUTPUT_KEEP = 4000
"""Characters of pip's output kept in the step's outputs (its end: where errors are)."""

# Variables that would send pip's install somewhere other than the venv, or let the venv's
# interpreter import Grace's packages (a false "it imports now").
_DROPPED_ENV = ("PIP_USER", "PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PYTHONPATH", "PYTHONHOME")
_FREEZE = (
    "import importlib.metadata as m\n"
    "print('\\n'.join(sorted({f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions()"
    " if d.metadata['Name']}, key=str.lower)))\n"
)
_IMPORT = "import importlib, sys\nimportlib.import_module(sys.argv[1])\n"
_VERSION = "import importlib.metadata as m, sys\nprint(m.version(sys.argv[1]))\n"


def _check_requirement(value: str) -> str:
    if not REQUIREMENT.fullmatch(value.strip()):
        msg = (
            f"requirement {value!r} must be 'name', 'name[extra]' or 'name>=1.0,<2' (a "
            "distribution name and version specifiers): no URL, path, marker or pip option"
        )
        raise ValueError(msg)
    return value.strip()


Requirement = Annotated[
    str, Field(min_length=1, max_length=300), AfterValidator(_check_requirement)
]


class ClassifyImportParams(BuiltinParams):
    """Parameters of ``python.classify_import``."""

    module: str = Field(default="", max_length=300, pattern=MODULE_PATTERN)
    """The module that failed to import (``fancy_recs.widgets``); empty: the error named none."""
    project: str = Field(default="", max_length=4096)
    """The service's project folder (holding ``pyproject.toml``) or the file itself; empty:
    nothing is declared, so the module is unknown."""
    modules: dict[str, str] = Field(default_factory=dict, max_length=1000)
    """Import name → distribution, where they differ (``{PIL: pillow}``)."""
    optional: dict[str, str] = Field(default_factory=dict, max_length=1000)
    """Explicitly optional: distribution or import name → the feature flag that switches it off."""
    required: list[str] = Field(default_factory=list, max_length=1000)
    """Explicitly required: requirements (``tinyreq>=1.0``) on top of the pyproject's."""
    venv: str = Field(default="", max_length=4096)
    """The service's virtualenv; default ``<project>/.venv``."""
    flags_file: str = Field(default="", max_length=4096)
    """The service's JSON flags file; default ``<project>/flags.json``."""


def _describe_classify(p: ClassifyImportParams) -> str:
    where = p.project or "no project"
    return f"would classify module {p.module or '?'!r} against the dependencies declared in {where}"


def _paths(p: ClassifyImportParams) -> tuple[Path | None, Path | None, str, str]:
    """(project folder, pyproject file, venv, flags file), with the defaults applied."""
    if not p.project:
        return None, None, p.venv, p.flags_file
    given = Path(p.project).expanduser()
    folder = given.parent if given.name == "pyproject.toml" else given
    folder = folder.resolve()
    pyproject = folder / "pyproject.toml"
    venv = p.venv or str(folder / ".venv")
    flags = p.flags_file or str(folder / "flags.json")
    return folder, pyproject, venv, flags


@action(
    "python.classify_import",
    params=ClassifyImportParams,
    risk="low",
    idempotent=True,
    outputs=(
        "module",
        "top_level",
        "classification",
        "distribution",
        "feature",
        "requirement",
        "reason",
        "project",
        "venv",
        "python",
        "flags_file",
        "declared",
    ),
    describe=_describe_classify,
)
async def classify_import(ctx: ActionContext, params: ClassifyImportParams) -> ActionResult:
    """Say whether a missing module is an optional feature, a required dependency, or unknown."""
    folder, pyproject, venv, flags = await anyio.to_thread.run_sync(_paths, params)

    def judge() -> tuple[Classification, dict[str, Any]]:
        found = pyproject if pyproject is not None and pyproject.is_file() else None
        declared = read_declared(found, required=params.required, optional=params.optional)
        result = classify(params.module, declared, modules=params.modules)
        if found is None and result.kind == "unknown" and params.module:
            where = f"{pyproject} does not exist" if pyproject else "no project was given"
            result = Classification(
                result.module, result.top_level, "unknown", f"{result.reason} ({where})"
            )
        return result, declared.to_json()

    try:
        result, declared = await anyio.to_thread.run_sync(judge)
    except ValueError as exc:  # an unreadable pyproject: a human must look, so it is "unknown"
        top = params.module.split(".", 1)[0]
        result = Classification(params.module, top, "unknown", str(exc))
        declared = {"required": [], "optional": {}}
    outputs = {
        "module": result.module,
        "top_level": result.top_level,
        "classification": result.kind,
        "distribution": result.distribution,
        "feature": result.feature,
        "requirement": result.requirement,
        "reason": result.reason,
        "project": str(folder) if folder else "",
        "venv": venv,
        "python": str(Path(venv) / "bin" / "python") if venv else "",
        "flags_file": flags,
        "declared": declared,
    }
    return ActionResult(
        ok=True, summary=f"{result.kind}: {result.reason}", outputs=outputs, changed=False
    )


class InstallParams(BuiltinParams):
    """Parameters of ``python.install``."""

    venv: FilePath
    """The service's virtualenv (``<venv>/bin/python`` must exist): the only place installed to."""
    requirement: Requirement
    """What to install: ``name``, ``name[extra]``, ``name>=1.0,<2``. Nothing else is accepted."""
    find_links: list[FilePath] = Field(default_factory=list, max_length=10)
    """Local folders of wheels or sdists to install from (pip ``--find-links``); must exist."""
    no_index: bool = False
    """Do not reach any package index: only ``find_links`` (offline installs)."""
    verify_module: str = Field(default="", max_length=300, pattern=MODULE_PATTERN)
    """After installing, import this module with the venv's interpreter; the step fails if it
    still cannot be imported."""
    timeout_s: Seconds = Field(default=300.0, gt=0, le=1800)
    """pip's whole run is stopped (its process group killed) after this long."""


def _describe_install(p: InstallParams) -> str:
    where = " from " + ", ".join(p.find_links) if p.find_links else ""
    index = " (no index)" if p.no_index else ""
    return f"would pip install {p.requirement!r} into the virtualenv {p.venv}{where}{index}"


async def _run(argv: list[str], env: dict[str, str], timeout_s: float) -> tuple[int, str]:
    """Run ``argv`` in its own session; kill its group at the deadline or on cancel."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        with anyio.fail_after(timeout_s):
            out, _ = await proc.communicate()
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True):
            await proc.wait()
        if isinstance(exc, TimeoutError):
            shown = " ".join(argv[:6]) + (" …" if len(argv) > 6 else "")
            msg = f"{shown} did not finish within the install's time limit (killed)"
            raise ActionError(msg, retryable=True, type="InstallTimeout") from None
        raise
    return int(proc.returncode or 0), out.decode("utf-8", "replace")


def _environment(ctx: ActionContext) -> dict[str, str]:
    env = {**os.environ, **ctx.env}
    for name in _DROPPED_ENV:
        env.pop(name, None)
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    return env


async def _pip(python: Path, env: dict[str, str], timeout_s: float) -> tuple[list[str], str]:
    """The pip to use: the venv's own when it has one, else Grace's aimed at the venv (``--python``)."""
    code, _ = await _run([str(python), "-c", "import pip"], env, min(timeout_s, 60))
    if code == 0:
        return [str(python), "-m", "pip"], "venv"
    return [sys.executable, "-m", "pip", "--python", str(python)], "grace"


@action(
    "python.install",
    params=InstallParams,
    risk="high",
    idempotent=True,
    outputs=("requirement", "distribution", "version", "python", "pip", "freeze_file", "output"),
    describe=_describe_install,
)
async def install_requirement(ctx: ActionContext, params: InstallParams) -> ActionResult:
    """Install one requirement into a service's own virtualenv with pip (bounded, recorded)."""
    venv, python, links = await anyio.to_thread.run_sync(_locate, params)
    env = _environment(ctx)
    deadline = anyio.current_time() + params.timeout_s

    def left() -> float:
        remaining = deadline - anyio.current_time()
        if remaining <= 0:
            msg = (
                f"pip install of {params.requirement!r} did not finish within {params.timeout_s:g}s"
            )
            raise ActionError(msg, retryable=True, type="InstallTimeout")
        return remaining

    name = canonical(REQUIREMENT.fullmatch(params.requirement).group("name"))  # type: ignore[union-attr]
    code, frozen = await _run([str(python), "-c", _FREEZE], env, left())
    if code != 0:
        msg = f"{python} does not run ({frozen.strip()[-500:]}): is the virtualenv broken?"
        raise ActionError(msg, retryable=False, type="BrokenVirtualenv")
    freeze_file = ctx.data_dir / "backups" / "venvs" / f"{ctx.run_id}_{ctx.step}.txt"
    body = f"# {venv} before installing {params.requirement} (run {ctx.run_id})\n{frozen}"
    await anyio.to_thread.run_sync(_save, freeze_file, body.encode())
    pip, which = await _pip(python, env, left())
    argv = [*pip, "install", "--no-input", "--disable-pip-version-check"]
    if params.no_index:
        argv.append("--no-index")
    for folder in links:
        argv += ["--find-links", str(folder)]
    argv.append(params.requirement)
    code, output = await _run(argv, env, left())
    tail = output[-OUTPUT_KEEP:]
    outputs: dict[str, Any] = {
        "requirement": params.requirement,
        "distribution": name,
        "version": None,
        "python": str(python),
        "pip": which,
        "freeze_file": str(freeze_file),
        "output": tail,
    }
    if code != 0:
        last = tail.strip().splitlines()[-1] if tail.strip() else f"exit {code}"
        msg = f"pip could not install {params.requirement!r} into {venv}: {last}"
        raise ActionError(msg, retryable=False, type="InstallFailed", outputs=outputs)
    code, version = await _run([str(python), "-c", _VERSION, name], env, left())
    outputs["version"] = version.strip() if code == 0 else None
    if params.verify_module:
        code, error = await _run([str(python), "-c", _IMPORT, params.verify_module], env, left())
        if code != 0:
            last = error.strip().splitlines()[-1] if error.strip() else f"exit {code}"
            msg = f"installed {params.requirement!r}, but {params.verify_module!r} still does not import in {venv}: {last}"
            raise ActionError(msg, retryable=False, type="StillMissing", outputs=outputs)
    changed = "Successfully installed" in output
    verb = "installed" if changed else "already installed:"
    summary = f"{verb} {name} {outputs['version'] or ''} into {venv} (pip of the {which})".replace(
        "  ", " "
    )
    return ActionResult(ok=True, summary=summary, outputs=outputs, changed=changed)


def _locate(params: InstallParams) -> tuple[Path, Path, list[Path]]:
    """(venv, its interpreter, find-links folders), each checked to exist."""
    venv = Path(params.venv).expanduser().resolve()
    python = venv / "bin" / "python"
    if not python.is_file():
        msg = f"{venv} is not a virtualenv: {python} does not exist (create it with 'python -m venv {venv}')"
        raise ActionError(msg, retryable=False, type="NoVirtualenv")
    links = [Path(d).expanduser().resolve() for d in params.find_links]
    for folder in links:
        if not folder.is_dir():
            msg = f"find_links folder {folder} does not exist"
            raise ActionError(msg, retryable=False, type="NoFindLinks")
    return venv, python, links


def _save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode=0o600)
