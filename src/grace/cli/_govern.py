"""Governance commands: approve, reject, approvals, stop --emergency, resume, silence, circuit."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from grace.cli._app import JsonOpt, _console, _state, app, playbooks_app
from grace.cli._state import emit_json

__all__ = ("circuit_app", "silence_app")

silence_app = typer.Typer(help="Mute matching diagnoses for a while.", no_args_is_help=True)
circuit_app = typer.Typer(help="Circuit breakers of incidents.", no_args_is_help=True)
app.add_typer(silence_app, name="silence")
app.add_typer(circuit_app, name="circuit")

AsOpt = Annotated[
    str | None,
    typer.Option("--as", help="Who you are (recorded in the audit log); default your login name."),
]


def _who(name: str | None) -> str:
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no login name in some containers
        return "operator"


def _done(message: str, payload: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(payload)
    else:
        _console().print(message)


# -- approvals ------------------------------------------------------------------------------


@app.command()
def approve(
    ctx: typer.Context,
    run_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    override_window: Annotated[
        bool,
        typer.Option("--override-window", help="Let it run outside the change window."),
    ] = False,
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Approve a pending run; it is queued once no approval is missing (four eyes, quorum)."""
    from grace.cli._render import run_json

    with _state(ctx).engine() as engine:
        run = engine.store.get_run(run_id)
        run = engine.store.approve_run(
            run.id, approver=_who(who), reason=reason, override_window=override_window
        )
    if run.status.value == "queued":
        text = f"run {run.id} approved and queued: a running 'grace serve' starts it"
    else:
        text = f"run {run.id} approved; {run.approvals_needed} more approval(s) needed"
    _done(text, run_json(run), json_out)


@app.command()
def reject(
    ctx: typer.Context,
    run_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (required, recorded).")],
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Reject a pending run: it ends ``rejected``; who and why are in the audit log."""
    from grace.cli._render import run_json

    if not reason.strip():
        raise typer.BadParameter("say why with --reason", param_hint="--reason")
    with _state(ctx).engine() as engine:
        run = engine.store.get_run(run_id)
        run = engine.store.reject_run(run.id, by=_who(who), reason=reason)
    _done(f"run {run.id} rejected", run_json(run), json_out)


@app.command()
def approvals(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Runs waiting on a human (expired ones are marked expired first)."""
    from grace.cli._render import run_json

    with _state(ctx).engine() as engine:
        engine.store.expire_pending()
        pending = engine.store.pending_runs()
    if json_out:
        emit_json([run_json(r) for r in pending])
        return
    console = _console()
    if not pending:
        console.print("nothing is waiting for approval")
        return
    for r in pending:
        console.print(
            f"{r.id}  {r.status.value:<22} {r.playbook:<28} service={r.service or '-'} "
            f"risk={r.risk_level} missing={r.approvals_needed} "
            f"by={r.requested_by} expires={r.expires_at.isoformat() if r.expires_at else '-'}"
        )


# -- emergency stop -------------------------------------------------------------------------


@app.command()
def stop(
    ctx: typer.Context,
    emergency: Annotated[
        bool, typer.Option("--emergency", help="Halt every run now and refuse new ones.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Emergency stop: running runs cancel their step, run recovery and end ``aborted``."""
    if not emergency:
        raise typer.BadParameter(
            "say --emergency to halt every run (stop the daemon itself with SIGTERM)",
            param_hint="--emergency",
        )
    with _state(ctx).engine() as engine:
        aborted = engine.store.set_emergency_stop(by=_who(who), reason=reason or "no reason given")
    _done(
        f"EMERGENCY STOP in force: {len(aborted)} queued run(s) aborted; running runs abort "
        "within a second. Lift it with 'grace resume'.",
        {"emergency_stop": True, "aborted_queued": aborted},
        json_out,
    )


@app.command()
def resume(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Lift the emergency stop."""
    with _state(ctx).engine() as engine:
        lifted = engine.store.clear_emergency_stop(by=_who(who), reason=reason)
    text = "emergency stop lifted" if lifted else "no emergency stop was in force"
    _done(text, {"emergency_stop": False, "lifted": lifted}, json_out)


# -- silences -------------------------------------------------------------------------------


@silence_app.command("add")
def silence_add(
    ctx: typer.Context,
    matchers: Annotated[
        list[str], typer.Argument(help="label=value, label!=value, label=~regex, label!~regex")
    ],
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d.")] = "1h",
    comment: Annotated[str, typer.Option("--comment", help="Why (required).")] = "",
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Silence diagnoses whose labels match every matcher, from now for --for."""
    from datetime import timedelta

    from grace.durations import parse_duration
    from grace.governance import new_silence

    try:
        seconds = parse_duration(duration, where="--for")
        with _state(ctx).engine() as engine:
            now = engine.clock.now()
            silence = new_silence(
                id=engine.ids.new("sil"),
                matchers=matchers,
                starts_at=now,
                ends_at=now + timedelta(seconds=seconds),
                author=_who(who),
                comment=comment,
                created_at=now,
            )
            engine.store.add_silence(silence.to_dict(), actor=silence.author)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    _done(
        f"silence {silence.id} until {silence.ends_at.isoformat()}: "
        + ", ".join(str(m) for m in silence.matchers),
        silence.to_dict(),
        json_out,
    )


@silence_app.command("list")
def silence_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include ended silences.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Active silences (or all of them)."""
    with _state(ctx).engine() as engine:
        rows = engine.store.silences(active_at=None if all_ else engine.clock.now())
    if json_out:
        emit_json(rows)
        return
    console = _console()
    if not rows:
        console.print("no silences")
    for s in rows:
        console.print(
            f"{s['id']}  until {s['ends_at']}  {' '.join(s['matchers'])}  "
            f"by {s['author']}: {s['comment']}"
        )


@silence_app.command("expire")
def silence_expire(
    ctx: typer.Context, silence_id: str, who: AsOpt = None, json_out: JsonOpt = False
) -> None:
    """End a silence now."""
    with _state(ctx).engine() as engine:
        ended = engine.store.expire_silence(silence_id, by=_who(who))
    if not ended:
        _done(f"no active silence {silence_id}", {"expired": False}, json_out)
        raise typer.Exit(1)
    _done(f"silence {silence_id} ended", {"expired": True}, json_out)


# -- circuit --------------------------------------------------------------------------------


@circuit_app.command("reset")
def circuit_reset(
    ctx: typer.Context, incident: str, who: AsOpt = None, json_out: JsonOpt = False
) -> None:
    """Close the open circuit of INCIDENT (``playbook:signature``, shown in its ticket)."""
    with _state(ctx).engine() as engine:
        closed = engine.store.reset_circuit(incident, by=_who(who))
    if not closed:
        _done(f"no open circuit for {incident}", {"reset": False}, json_out)
        raise typer.Exit(1)
    _done(f"circuit of {incident} closed", {"reset": True}, json_out)


# -- playbook switches ----------------------------------------------------------------------


@playbooks_app.command("disable")
def playbooks_disable(
    ctx: typer.Context,
    name: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (required, recorded).")],
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Turn a playbook off on every node: it starts nothing (manual runs neither) until enabled."""
    from grace.errors import ConfigError

    if not reason.strip():
        raise ConfigError("--reason must not be blank", hint="say why, for whoever turns it on")
    with _state(ctx).engine() as engine:
        engine.playbook(name)  # an unknown name is an error with a did-you-mean hint
        changed = engine.store.disable_playbook(name, by=_who(who), reason=reason.strip())
        state = engine.store.disabled_playbook(name) or {}
    text = (
        f"playbook {name} disabled: it starts nothing until 'grace playbooks enable {name}'"
        if changed
        else f"playbook {name} was already disabled by {state.get('by')}: {state.get('reason')}"
    )
    _done(text, {"playbook": name, "disabled": True, "changed": changed, **state}, json_out)


@playbooks_app.command("enable")
def playbooks_enable(
    ctx: typer.Context,
    name: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    who: AsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Turn a disabled playbook on again."""
    with _state(ctx).engine() as engine:
        engine.playbook(name)
        changed = engine.store.enable_playbook(name, by=_who(who), reason=reason)
    text = f"playbook {name} enabled" if changed else f"playbook {name} was not disabled"
    _done(text, {"playbook": name, "disabled": False, "changed": changed}, json_out)
