"""The governor: an ordered chain of guards, then the mode (observe proposes, execute queues)."""

from __future__ import annotations

from collections.abc import Sequence

from grace.governance._verdict import Decision, DecisionKind, Guard, GuardInput

__all__ = ("Governor",)


class Governor:
    """Runs the guards in order; the first objection decides, else the mode does."""

    def __init__(self, guards: Sequence[Guard]) -> None:
        self.guards = tuple(guards)

    def decide(self, inp: GuardInput) -> Decision:
        """The decision for one diagnosis, with the trace of every guard consulted."""
        trace: list[tuple[str, str]] = []
        for guard in self.guards:
            name = getattr(guard, "__name__", type(guard).__name__)
            verdict = guard(inp)
            if verdict is not None:
                trace.append((name, f"{verdict.kind.value}: {verdict.reason}"))
                return Decision(
                    verdict.kind,
                    verdict.reason,
                    name,
                    inp.playbook.name,
                    inp.signature,
                    tuple(trace),
                )
            trace.append((name, "ok"))
        if inp.mode == "execute":
            kind, reason = DecisionKind.QUEUED, "execute mode: every guard passed"
        else:
            kind, reason = (
                DecisionKind.PROPOSED,
                "observe-only mode: proposed, nothing executes (set mode: execute to act)",
            )
        trace.append(("mode", f"{kind.value}: {reason}"))
        return Decision(kind, reason, "mode", inp.playbook.name, inp.signature, tuple(trace))
