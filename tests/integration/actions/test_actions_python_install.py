"""``python.install`` on real virtualenvs with real pip, offline (a local wheel folder)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from grace.actions import ActionContext
from grace.actions.builtin.python_deps import InstallParams, install_requirement
from grace.errors import ActionError

MakeCtx = Callable[..., ActionContext]

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> None:
    """Write a real pure-Python wheel holding ``files``."""
    info = f"{name}-{version}.dist-info"
    data = {path: text.encode() for path, text in files.items()}
    data[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    data[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = "".join(
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}\n"
        for p, d in data.items()
    )
    data[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as zf:
        for path, body in data.items():
            zf.writestr(path, body)


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """tinyreq 1.0 (module tinyreq) and misnamed 1.0 (which ships no module of that name)."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    wheel(folder, "tinyreq", "1.0", {"tinyreq/__init__.py": "VERSION = '1.0'\n"})
    wheel(folder, "misnamed", "1.0", {"other_name/__init__.py": ""})
    return folder


def venv(path: Path, *, pip: bool) -> Path:
    """A real virtualenv, with or without its own pip."""
    argv = [sys.executable, "-m", "venv", str(path)]
    subprocess.run(argv if pip else [*argv, "--without-pip"], check=True, timeout=300)
    return path


def imports(env: Path, module: str) -> bool:
    done = subprocess.run([str(env / "bin" / "python"), "-c", f"import {module}"], check=False)
    return done.returncode == 0


async def test_installs_into_the_venv_with_its_own_pip_and_records_the_packages_before(
    tmp_path: Path, wheels: Path, make_ctx: MakeCtx
) -> None:
    """A venv with pip uses its own pip; the package lands there and nowhere else; a second
    install changes nothing; the freeze record lists the venv before the change."""
    env = venv(tmp_path / "venv", pip=True)
    params = InstallParams(
        venv=str(env),
        requirement="tinyreq>=1.0",
        find_links=[str(wheels)],
        no_index=True,
        verify_module="tinyreq",
    )
    result = await install_requirement(make_ctx(), params)
    assert result.ok
    assert result.changed
    assert (result.outputs["pip"], result.outputs["version"]) == ("venv", "1.0")
    assert imports(env, "tinyreq")
    assert "tinyreq" not in sys.modules
    head, _, packages = (await anyio.Path(result.outputs["freeze_file"]).read_text()).partition(
        "\n"
    )
    assert head.startswith(f"# {env.resolve()} before installing tinyreq>=1.0")
    assert "pip==" in packages
    assert "tinyreq" not in packages
    again = await install_requirement(make_ctx(step="again"), params)
    assert not again.changed


async def test_a_module_still_missing_after_the_install_fails_the_step(
    tmp_path: Path, wheels: Path, make_ctx: MakeCtx
) -> None:
    """The distribution installs but does not provide the module: the step says so."""
    env = venv(tmp_path / "venv", pip=False)
    params = InstallParams(
        venv=str(env),
        requirement="misnamed",
        find_links=[str(wheels)],
        no_index=True,
        verify_module="misnamed",
    )
    with pytest.raises(ActionError) as err:
        await install_requirement(make_ctx(), params)
    assert err.value.type == "StillMissing"
    assert err.value.outputs["pip"] == "grace"
    assert "No module named 'misnamed'" in str(err.value)


async def test_refusals_name_the_problem(tmp_path: Path, wheels: Path, make_ctx: MakeCtx) -> None:
    """No venv, a missing wheel folder, an unknown package offline: clear, non-retryable."""
    with pytest.raises(ActionError, match="is not a virtualenv") as err:
        await install_requirement(make_ctx(), InstallParams(venv=str(tmp_path), requirement="x"))
    assert err.value.type == "NoVirtualenv"
    env = venv(tmp_path / "venv", pip=False)
    missing = InstallParams(venv=str(env), requirement="x", find_links=[str(tmp_path / "nope")])
    with pytest.raises(ActionError, match="does not exist"):
        await install_requirement(make_ctx(), missing)
    unknown = InstallParams(
        venv=str(env), requirement="nosuchthing", find_links=[str(wheels)], no_index=True
    )
    with pytest.raises(ActionError, match="pip could not install 'nosuchthing'") as err:
        await install_requirement(make_ctx(), unknown)
    assert err.value.type == "InstallFailed"
    assert not err.value.retryable


async def test_the_time_limit_kills_and_is_retryable(tmp_path: Path, make_ctx: MakeCtx) -> None:
    """Past ``timeout_s`` the command's process group is killed; the step may be retried."""
    env = venv(tmp_path / "venv", pip=False)
    params = InstallParams(venv=str(env), requirement="tinyreq", timeout_s=0.001)
    with pytest.raises(ActionError, match="did not finish") as err:
        await install_requirement(make_ctx(), params)
    assert err.value.type == "InstallTimeout"
    assert err.value.retryable
