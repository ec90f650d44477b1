"""A warm engine start imports no built-in action; a step imports just the module it calls.

Each start is a fresh interpreter (``sys.modules`` of this test process is long polluted), built
on the same data folder: the first start writes the action index and the playbook cache, the
second reads them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import anyio

    from grace.config import Settings
    from grace.engine import Engine

    def builtins():
        return sorted(m for m in sys.modules if m.startswith("grace.actions.builtin."))

    tmp = Path(sys.argv[1])
    settings = Settings(
        data_dir=tmp / ".grace",
        log_dir=tmp / "logs",
        playbook_dirs=[tmp / "playbooks"],
        bundled_playbooks=True,
        mode="execute",
        governance={"change_windows": {"enabled": False}},
    )
    out = {}
    with Engine(settings) as engine:
        out["at_start"] = builtins()
        out["playbooks"] = len(engine.playbooks)
        run = anyio.run(lambda: engine.execute("say_hello", requested_by="test"))
        out["status"] = run.status.value
        out["after_run"] = builtins()
        out["shell"] = engine.registry.get("shell").name
        out["after_get"] = builtins()
    print(json.dumps(out))
    """
)

PLAYBOOK = """
name: say_hello
steps:
  - {name: hello, action: log, with: {message: hello}}
"""

LAZY = "grace.actions.builtin."


def _start(tmp_path: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRACE_")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_warm_engine_start_imports_no_built_in_action(tmp_path: Path) -> None:
    """Cold: every built-in is imported (and indexed). Warm: none until a step needs one."""
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "say_hello.yaml").write_text(PLAYBOOK, encoding="utf-8")

    cold = _start(tmp_path)
    warm = _start(tmp_path)

    assert f"{LAZY}sqlite_db" in cold["at_start"]
    assert f"{LAZY}services" in cold["at_start"]
    assert list((tmp_path / ".grace" / "cache").glob("actions-*.json"))
    assert warm["playbooks"] == cold["playbooks"] > 1
    assert warm["at_start"] == []
    assert warm["status"] == cold["status"] == "succeeded"
    assert f"{LAZY}log" in warm["after_run"]
    assert f"{LAZY}shell" not in warm["after_run"]
    assert f"{LAZY}sqlite_db" not in warm["after_run"]
    assert f"{LAZY}services" not in warm["after_run"]
    assert warm["shell"] == "shell"
    assert f"{LAZY}shell" in warm["after_get"]
    assert f"{LAZY}sqlite_db" not in warm["after_get"]
