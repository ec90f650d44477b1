"""The matching package: its facade, its purity, triggers_of, and the benchmark's smoke run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grace.matching
from grace.actions import default_registry
from grace.matching import Matcher, Trigger, triggers_of
from grace.playbooks import load_text

ROOT = Path(__file__).resolve().parents[3]

PLAYBOOK = """
name: faiss_lock_recovery
priority: high
metadata:
  auto_trigger: false
triggers:
  - type: log_message
    pattern: 'database is (?P<state>locked|busy)'
    severity: error
    service: vectors
  - type: manual
  - type: scheduled
    cron: '0 * * * *'
  - type: metric
    metric: disk_used_pct
    threshold: 90
steps:
  - name: note
    action: log
    with: {message: "locked"}
"""


def test_facade_exports_a_sorted_tuple() -> None:
    """__all__ is a tuple, isort-sorted (CONSTANTS, Classes, functions), of existing names."""
    names = grace.matching.__all__
    assert isinstance(names, tuple)
    assert list(names) == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert all(hasattr(grace.matching, name) for name in names)


def test_importing_matching_stays_pure() -> None:
    """grace.matching imports nothing from store, runner, sources or logging machinery."""
    code = (
        "import sys, grace.matching;"
        "bad = sorted(m for m in sys.modules if m.startswith(('grace.store', 'grace.runner',"
        " 'grace.sources', 'grace.logs', 'sqlalchemy', 'structlog', 'logging')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_triggers_of_a_loaded_playbook() -> None:
    """triggers_of flattens a playbook's triggers, keeping indexes, dropping manual ones."""
    playbook = load_text(PLAYBOOK, registry=default_registry())
    found = triggers_of(playbook)
    assert found == [
        Trigger(
            playbook="faiss_lock_recovery",
            index=0,
            type="log_message",
            pattern="database is (?P<state>locked|busy)",
            severity="error",
            service="vectors",
            priority="high",
        ),
        Trigger("faiss_lock_recovery", 2, "scheduled", None, None, None, priority="high"),
        Trigger(
            "faiss_lock_recovery", 3, "metric", None, None, None, "high", "disk_used_pct", 90.0
        ),
    ]
    assert Matcher(found, backend="re").patterns == ("database is (?P<state>locked|busy)",)


def test_matchers_alive_share_compiled_patterns() -> None:
    """A daemon's line filter repeats every trigger of its main matcher: the compiled patterns
    are shared, not held twice, and results are the same."""

    def log(playbook: str, pattern: str) -> Trigger:
        return Trigger(playbook, 0, "log_message", pattern, severity=None, service=None)

    triggers = [log(f"p{i}", f"job {i} failed") for i in range(3)]
    main = Matcher(triggers, backend="re")
    extra = log("tb", r"^Traceback")
    line = Matcher([*triggers, extra], backend="re")
    assert all(a is b for a, b in zip(main._exact, line._exact, strict=False))
    assert line.scan(b"x\njob 1 failed\n") == main.scan(b"x\njob 1 failed\n")
