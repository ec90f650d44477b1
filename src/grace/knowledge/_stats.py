"""Per-pattern success rates, computed from the training records ``grace boot`` writes.

The training records (``<data_dir>/training/startup_failures/boot_*.json``) are the source of
truth; the summary file :func:`write_stats` writes next to them is derived and can be rebuilt at
any time, so two boots finishing together cannot lose an outcome.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ("PatternStats", "pattern_stats", "write_stats")


@dataclass(slots=True)
class PatternStats:
    """What happened each time one pattern was seen at boot."""

    pattern: str
    seen: int = 0
    """Failures classified as this pattern."""
    applied: int = 0
    """Its fix playbook ran (execute mode, the governor allowed it)."""
    fixed: int = 0
    """The fix ran, succeeded, and the failing stage passed when re-run (verified)."""
    proposed: int = 0
    """The fix was proposed or is waiting for an approval (observe mode, or policy)."""
    not_run: int = 0
    """The fix playbook was not loaded, or the governor refused or suppressed it."""
    last_seen: str | None = None
    """When a boot last saw it (ISO 8601)."""

    @property
    def success_rate(self) -> float | None:
        """Fixed / applied, or None before the first applied fix."""
        return None if self.applied == 0 else self.fixed / self.applied

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the success rate."""
        return {**asdict(self), "success_rate": self.success_rate}


def pattern_stats(training_dir: Path) -> dict[str, PatternStats]:
    """Each pattern's counts over every training record in ``training_dir`` (oldest first).

    Records that cannot be read (a crash mid-write elsewhere, a hand edit) are skipped.
    """
    stats: dict[str, PatternStats] = {}
    for path in sorted(training_dir.glob("boot_*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict):
            continue
        when = record.get("finished_at")
        for fix in record.get("fixes") or []:
            if not isinstance(fix, dict) or not isinstance(fix.get("pattern"), str):
                continue
            item = stats.setdefault(fix["pattern"], PatternStats(fix["pattern"]))
            item.seen += 1
            item.last_seen = when if isinstance(when, str) else item.last_seen
            outcome = fix.get("outcome")
            if outcome == "applied":
                item.applied += 1
                item.fixed += 1 if fix.get("verified") is True else 0
            elif outcome in ("proposed", "awaiting_approval"):
                item.proposed += 1
            else:
                item.not_run += 1
    return stats


def write_stats(path: Path, stats: dict[str, PatternStats]) -> None:
    """Write the summary atomically (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {name: item.to_dict() for name, item in sorted(stats.items())}, indent=2, sort_keys=True
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
