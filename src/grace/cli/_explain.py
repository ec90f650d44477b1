"""``grace explain EVENT_FILE``: the whole decision chain for one event, and what would change it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from grace.cli._app import JsonOpt, _console, _state, app
from grace.cli._state import emit_json

__all__ = ("explain_event",)

_CHANGE_HINTS = {
    "auto_trigger": "set metadata.auto_trigger: true in the playbook, or run it with 'grace execute'",
    "conditions": "the playbook's condition is false for this event; see its 'reason'",
    "recovery_signal": "nothing to repair: the signal says the service recovered",
    "episode_resolved": "the alert's episode is resolved; a new firing alert reopens it",
    "open_incident": "a run for this incident is already open; it must finish first",
    "mode": "set mode: execute (GRACE_MODE=execute) to let Grace act instead of proposing",
    "stale_signal": "the event is older than governance.max_event_age",
    "repeat_window": "wait for the dedupe window / cooldown to pass",
    "policy": "change the playbook's risk_level / autonomy_tier, or a governance.policy override",
    "throttle": "the playbook's throttle holds this incident back; see its throttle: block",
}


def explain_event(settings: Any, event: Any) -> dict[str, Any]:
    """Triggers (matched, near misses and why) and, per matched playbook, every guard's verdict."""
    from grace.actions import default_registry
    from grace.daemon import build_matcher
    from grace.governance import ChangeCalendar, Governor, build_guards, context_flags
    from grace.pipeline import Decider
    from grace.playbooks import load_library
    from grace.store import open_store

    playbooks, _ = load_library(
        settings.playbook_dirs,
        registry=default_registry(),
        include_bundled=settings.bundled_playbooks,
    )
    matcher = build_matcher(playbooks, None)
    store = open_store(settings.effective_database_url)
    try:
        calendar = ChangeCalendar(settings.governance.change_windows)
        governor = Governor(build_guards(store, settings.governance, calendar=calendar))
        triggers = []
        for exp in matcher.explain(event):
            t = exp.trigger
            triggers.append(
                {
                    "playbook": t.playbook,
                    "trigger": t.index,
                    "type": t.type,
                    "matched": exp.matched,
                    "near_miss": exp.near_miss,
                    "reasons": list(exp.reasons),
                }
            )
        decider = Decider.dry(
            governor=governor,
            playbooks=playbooks,
            matcher=matcher,
            settings=settings,
            flags=lambda now: context_flags(calendar, now),
        )
        decisions = []
        for outcome in decider.decide(event):
            decision, match = outcome.decision, outcome.match
            decisions.append(
                {
                    "playbook": decision.playbook,
                    "captures": dict(match.captures),
                    "signature": match.signature,
                    "decision": decision.kind.value,
                    "reason": decision.reason,
                    "decided_by": decision.guard,
                    "guards": [{"guard": g, "verdict": v} for g, v in decision.trace],
                    "to_change": decision.hint or _CHANGE_HINTS.get(decision.guard, ""),
                }
            )
    finally:
        store.close()
    return {
        "event": event.to_dict(),
        "backend": matcher.backend,
        "triggers": triggers,
        "decisions": decisions,
    }


@app.command()
def explain(
    ctx: typer.Context,
    event_file: Annotated[Path, typer.Argument(help="A JSON event.", exists=True, dir_okay=False)],
    all_triggers: Annotated[
        bool, typer.Option("--all", help="Also list triggers that were far off.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Which triggers matched this event, which nearly did and why, and what the governor decides."""
    from grace.events import read_event

    report = explain_event(_state(ctx).settings(), read_event(event_file))
    if json_out:
        emit_json(report)
        return
    console = _console()
    ev = report["event"]
    console.print(
        f"event {ev['kind']} · service {ev['service'] or '-'} · {ev['severity']}: {ev['message']}",
        markup=False,
    )
    shown = [t for t in report["triggers"] if all_triggers or t["matched"] or t["near_miss"]]
    if not shown:
        console.print(
            "no trigger matched or nearly matched (use --all to see every trigger)", markup=False
        )
    for t in shown:
        mark = "✓ matched" if t["matched"] else ("~ near miss" if t["near_miss"] else "✗")
        console.print(f"{mark}  {t['playbook']} trigger {t['trigger']} ({t['type']})", markup=False)
        for reason in t["reasons"]:
            console.print(f"     {reason}", markup=False)
    for d in report["decisions"]:
        console.print(f"\n→ {d['playbook']}: {d['decision'].upper()} — {d['reason']}", markup=False)
        for g in d["guards"]:
            console.print(f"     {g['guard']}: {g['verdict']}", markup=False)
        if d["to_change"]:
            console.print(f"     to change this: {d['to_change']}", markup=False)


@app.command()
def replay(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="A log file, or events as JSON lines.", exists=True, dir_okay=False),
    ],
    service: Annotated[str, typer.Option("--service", help="Service of a plain log's lines.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Backtest playbooks against a log or events file: what would have run. Writes nothing."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from grace.actions import default_registry
    from grace.daemon import build_matcher
    from grace.playbooks import load_library
    from grace.replay import replay_file

    settings = _state(ctx).settings()
    playbooks, _ = load_library(
        settings.playbook_dirs,
        registry=default_registry(),
        include_bundled=settings.bundled_playbooks,
    )
    matcher = build_matcher(playbooks, None)
    console = _console()
    size = file.stat().st_size
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=json_out or size < 5_000_000,
    ) as bar:
        task = bar.add_task(f"replaying {file.name}", total=size)
        report = replay_file(
            file,
            settings,
            playbooks,
            matcher,
            service=service,
            progress=lambda n: bar.advance(task, n),
        )
    data = report.to_dict()
    if json_out:
        emit_json(data)
        return
    console.print(
        f"{data['file']} ({data['format']}): {data['lines']:,} lines, {data['events']:,} events considered, "
        f"matcher backend {matcher.backend} — dry run, nothing was executed or written",
        markup=False,
    )
    if not data["playbooks"]:
        console.print("no playbook would have been triggered", markup=False)
    for row in data["playbooks"]:
        console.print(
            f"line {row['first_line']:>7}  {row['playbook']:<28} {row['decision'].upper():<10} "
            f"{row['matches']} match(es), {row['incidents']} incident(s) → {row['incidents']} run(s)",
            markup=False,
        )
        console.print(f"{'':>14}{row['reason']}", markup=False)
        console.print(f"{'':>14}e.g. {row['example']}", markup=False)
