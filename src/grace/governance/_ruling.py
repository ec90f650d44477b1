"""The final ruling: the policy matrix, then the change window. It always answers."""

from __future__ import annotations

from grace.governance._config import GovernanceConfig
from grace.governance._policy import PolicyAction, rule
from grace.governance._verdict import DecisionKind, Guard, GuardInput, Verdict
from grace.governance._windows import ChangeCalendar
from grace.runs import RunStatus

__all__ = ("make_ruling",)


def make_ruling(config: GovernanceConfig, calendar: ChangeCalendar) -> Guard:
    """The policy ruling guard (last in the chain)."""

    def policy(inp: GuardInput) -> Verdict:
        meta = inp.playbook.spec.metadata
        # A person asking for a run is the decision to act: observe mode only holds back Grace.
        mode = inp.mode if inp.trigger == "event" else "execute"
        ruling = rule(
            config.policy,
            risk=meta.risk_level,
            tier=meta.autonomy_tier,
            mode=mode,
            requires_approval=meta.requires_approval,
            playbook=inp.playbook.name,
            service=inp.event.service,
        )
        action = ruling.action
        if action is PolicyAction.REFUSE:
            return Verdict(
                DecisionKind.BLOCKED,
                f"policy refuses: {ruling.reason}",
                hint="a governance.policy override, or a lower risk level, would allow it",
            )
        if action is PolicyAction.PROPOSE:
            hint = (
                "set mode: execute to let Grace act"
                if mode == "observe"
                else "raise metadata.autonomy_tier to let Grace act"
            )
            return Verdict(
                DecisionKind.PROPOSED, ruling.reason, hint=hint, run_status=RunStatus.PROPOSED
            )
        needed = {
            PolicyAction.EXECUTE: 0,
            PolicyAction.REQUIRE_APPROVAL: 1,
            PolicyAction.REQUIRE_QUORUM: config.policy.quorum,
        }[action]
        if meta.risk_level != "low" and inp.now is not None:
            window = calendar.state(inp.now)
            if not window.open and not inp.flags.get("override_window"):
                return Verdict(
                    DecisionKind.BLOCKED,
                    f"{window.reason}: a {meta.risk_level}-risk run waits for an override "
                    f"({ruling.reason})",
                    hint="an operator approves it with 'grace approve RUN_ID --override-window'"
                    " (it does not start by itself when the window opens"
                    + (f" at {window.next_change.isoformat()}" if window.next_change else "")
                    + "; unapproved, it expires)",
                    run_status=RunStatus.BLOCKED_CHANGE_WINDOW,
                    approvals_needed=max(needed, 1),
                )
        if needed == 0:
            return Verdict(DecisionKind.QUEUED, ruling.reason, run_status=RunStatus.QUEUED)
        who = "one approval" if needed == 1 else f"{needed} distinct approvers"
        return Verdict(
            DecisionKind.AWAITING_APPROVAL,
            ruling.reason,
            hint=f"needs {who}: 'grace approve RUN_ID' (the requester cannot approve)",
            run_status=RunStatus.AWAITING_APPROVAL,
            approvals_needed=needed,
        )

    return policy
