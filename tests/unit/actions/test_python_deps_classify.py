"""``python.classify_import``'s pure part: a missing module judged against declared dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from grace.actions.builtin._pydeps import Declared, canonical, classify, flag_name, read_declared
from grace.actions.builtin.python_deps import ClassifyImportParams, InstallParams

PYPROJECT = """
[project]
name = "shop"
dependencies = ["tinyreq>=1.0", "PyYAML>=6; python_version >= '3.8'", "Pillow", "odd @ https://example.org/odd.whl"]

[project.optional-dependencies]
recommendations = ["Fancy_Recs>=0.1"]
vector-search = ["faiss-cpu"]
v2 = ["shiny"]
both = ["tinyreq"]
"""


@pytest.fixture
def declared(tmp_path: Path) -> Declared:
    """The shop's declarations, read from a real pyproject.toml."""
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    return read_declared(path)


def test_names_are_normalised_as_pep_503_says() -> None:
    """Case, ``_``, ``.`` and ``-`` do not tell distributions apart; an extra's flag uses ``_``."""
    assert canonical("Fancy_Recs.v2") == "fancy-recs-v2"
    assert flag_name("Vector-Search") == "vector_search"


def test_required_optional_unknown(declared: Declared) -> None:
    """A dependency is required, an extra's package optional with the extra as its flag, the
    rest unknown; a submodule is judged by its top-level package."""
    required = classify("tinyreq.client", declared, modules={})
    assert (required.kind, required.distribution, required.requirement) == (
        "required",
        "tinyreq",
        "tinyreq>=1.0",
    )
    optional = classify("fancy_recs", declared, modules={})
    assert (optional.kind, optional.feature) == ("optional", "recommendations")
    assert classify("ghost", declared, modules={}).kind == "unknown"
    assert classify("", declared, modules={}).reason.startswith("the error names no missing module")


def test_required_wins_over_an_extra(declared: Declared) -> None:
    """tinyreq is both a dependency and in an extra: installing it is the only full fix."""
    assert classify("tinyreq", declared, modules={}).kind == "required"


def test_import_names_that_differ_from_their_distribution(declared: Declared) -> None:
    """``yaml`` → PyYAML and ``PIL`` → Pillow from the table (markers dropped from the
    requirement); ``faiss`` needs the explicit mapping to reach faiss-cpu."""
    yaml = classify("yaml", declared, modules={})
    assert (yaml.kind, yaml.requirement) == ("required", "PyYAML>=6")
    assert classify("PIL.Image", declared, modules={}).requirement == "Pillow"
    assert classify("faiss", declared, modules={}).kind == "unknown"
    mapped = classify("faiss", declared, modules={"faiss": "faiss-cpu"})
    assert (mapped.kind, mapped.feature) == ("optional", "vector_search")


def test_what_cannot_be_acted_on_safely_is_unknown(declared: Declared) -> None:
    """A URL requirement is never installed automatically; an extra whose name is no flag
    name (digits) cannot be switched off: both go to a human."""
    odd = classify("odd", declared, modules={})
    assert odd.kind == "unknown"
    assert "install it by hand" in odd.reason
    shiny = classify("shiny", declared, modules={})
    assert shiny.kind == "unknown"
    assert "vars.optional" in shiny.reason


def test_explicit_declarations_override_the_file(tmp_path: Path) -> None:
    """``optional`` and ``required`` given in vars win over (or stand in for) the pyproject."""
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    declared = read_declared(path, required=["ghost==2.0"], optional={"pillow": "images"})
    assert classify("ghost", declared, modules={}).requirement == "ghost==2.0"
    images = classify("PIL", declared, modules={})
    assert (images.kind, images.feature) == ("optional", "images")
    assert read_declared(None).required == {}


def test_bad_toml_is_reported(tmp_path: Path) -> None:
    """A broken pyproject says which file and why (the action turns it into 'unknown')."""
    path = tmp_path / "pyproject.toml"
    path.write_text("[project\n")
    with pytest.raises(ValueError, match="is not valid TOML"):
        read_declared(path)


@pytest.mark.parametrize(
    "requirement",
    [
        "--index-url=http://evil/simple tinyreq",
        "-e .",
        "tinyreq @ https://example.org/t.whl",
        "./wheels/tinyreq-1.0-py3-none-any.whl",
        "tinyreq; python_version > '3'",
        "tinyreq>=1.0 --pre",
        "",
    ],
)
def test_install_accepts_only_a_plain_requirement(requirement: str) -> None:
    """No pip option, URL, path or marker reaches pip: only ``name[extras] specifiers``."""
    with pytest.raises(ValidationError):
        InstallParams(venv="/srv/shop/.venv", requirement=requirement)


def test_install_and_classify_parameters() -> None:
    """Plain requirements pass; the module name must be a dotted identifier; the timeout is bounded."""
    for ok in ("tinyreq", "tinyreq>=1.0,<2", "Fancy_Recs[extra1,extra2]==0.1.*"):
        assert InstallParams(venv="/v", requirement=ok).requirement == ok
    with pytest.raises(ValidationError):
        InstallParams(venv="/v", requirement="tinyreq", timeout_s=3601)
    with pytest.raises(ValidationError):
        ClassifyImportParams(module="os; rm -rf /")
    assert ClassifyImportParams(module="a.b_c").module == "a.b_c"
