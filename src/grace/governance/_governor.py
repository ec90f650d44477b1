"""The governor: an ordered chain of guards; the first verdict decides, else the mode does."""

from __future__ import annotations

from collections.abc import Sequence

from grace.governance._verdict import (
    Decision,
    DecisionKind,
    Effects,
    Guard,
    GuardInput,
    Note,
    Verdict,
)
from grace.runs import RunStatus

__all__ = ("Governor",)


class Governor:
    """Runs the guards in order; the first :class:`Verdict` decides.

    The last guard of the default chain is the policy ruling (risk x tier x mode, then the
    change window), which always answers. A chain without it falls back to the mode alone:
    observe proposes, execute queues.
    """

    def __init__(self, guards: Sequence[Guard]) -> None:
        self.guards = tuple(guards)

    def decide(self, inp: GuardInput) -> Decision:
        """The decision for one diagnosis, with the trace of every guard consulted."""
        trace: list[tuple[str, str]] = []
        effects = Effects()
        for guard in self.guards:
            name = getattr(guard, "__name__", type(guard).__name__)
            said = guard(inp)
            if isinstance(said, Verdict):
                trace.append((name, f"{said.kind.value}: {said.reason}"))
                return Decision(
                    said.kind,
                    said.reason,
                    name,
                    inp.playbook.name,
                    inp.signature,
                    tuple(trace),
                    hint=said.hint,
                    run_status=said.run_status,
                    approvals_needed=said.approvals_needed,
                    effects=effects.merged(said.effects),
                )
            if isinstance(said, Note):
                trace.append((name, f"ok: {said.text}"))
                effects = effects.merged(said.effects)
            else:
                trace.append((name, "ok"))
        if inp.mode == "execute":
            kind, status = DecisionKind.QUEUED, RunStatus.QUEUED
            reason = "execute mode: every guard passed"
        else:
            kind, status = DecisionKind.PROPOSED, RunStatus.PROPOSED
            reason = "observe-only mode: proposed, nothing executes (set mode: execute to act)"
        trace.append(("mode", f"{kind.value}: {reason}"))
        return Decision(
            kind,
            reason,
            "mode",
            inp.playbook.name,
            inp.signature,
            tuple(trace),
            run_status=status,
            effects=effects,
        )
