"""Schemathesis against the published OpenAPI: no 500s, no response outside the schema.

Every operation the app publishes is a test of its own, on SQLite and on PostgreSQL (when
``GRACE_TEST_DATABASE_URL`` is set). The operations are read from the schema, not listed here,
so a new router is fuzzed as soon as it is included. Each test builds the real app over a real
engine with a fresh database (playbooks loaded; runs, a silence and a ticket recorded), loads ``/openapi.json`` through the ASGI app and sends a bounded, derandomized set
of generated requests, valid and invalid ones, some aimed at the recorded ids. Every response
must not be a 5xx, must have a status code the operation lists, and a body that conforms.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from grace.api import create_app
from grace.engine import Engine
from grace.errors import GraceError
from grace.pipeline import Pipeline
from grace.runs import RunStatus, StepStatus

if TYPE_CHECKING:
    from fastapi import FastAPI

    from conftest import RecordRun
    from grace.testing import FakeClock

MAX_EXAMPLES = 25
"""Generated requests per operation and database (valid, invalid, aimed at recorded ids
together); bounded so the whole file stays well under 90 s on both databases."""

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

KNOWN_FAILURES: dict[str, str] = {}
"""Operation label (``"METHOD /path"``) → why it fails today; run as ``xfail(strict=True)``,
so fixing the API fails the test until the entry is removed."""

METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


class _NoIngest:
    """An ingest door for the app built at collection time only to read its schema."""


@cache
def _spec() -> dict[str, Any]:
    """The published OpenAPI document, built once: FastAPI takes ~0.5 s to build it, and each
    test's app gets this copy (``test_every_published_operation_is_fuzzed`` checks that an app
    with an engine publishes the same)."""
    spec: dict[str, Any] = create_app(cast(Any, _NoIngest()), auth=False).openapi()
    return spec


def _operation_labels() -> list[str]:
    """Every operation the app publishes, as ``"METHOD /path"``."""
    return [
        f"{method.upper()} {path}"
        for path, item in _spec()["paths"].items()
        for method in item
        if method in METHODS
    ]


def _params() -> list[Any]:
    """One parameter per operation; the known failures are strict xfails."""
    return [
        pytest.param(
            label,
            id=label,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[label])]
            if label in KNOWN_FAILURES
            else [],
        )
        for label in _operation_labels()
    ]


@pytest.fixture
def fuzz_app(
    api_engine: Engine, record_run: RecordRun, clock: FakeClock
) -> tuple[FastAPI, dict[str, list[str]]]:
    """The real app over ``api_engine`` with data recorded, and the ids worth aiming at,
    by path parameter name."""
    from grace.governance import new_silence

    ok = StepStatus.SUCCEEDED
    done = record_run("restart_worker", [("stop", 1.5, ok), ("start", 2.0, ok)])
    failed = record_run(
        "restart_worker",
        [("stop", 1.0, ok), ("start", 0.5, StepStatus.FAILED)],
        final=RunStatus.FAILED,
    )
    running = record_run("purge_queue", [("purge", 1.0, ok)], final=None)
    run_ids = [done.id, failed.id, running.id]
    try:
        pending = api_engine.new_run("purge_queue", requested_by="alice")
        run_ids.append(pending.id)
    except GraceError:
        pass
    now = clock.now()
    silence = new_silence(
        id="sil_seeded",
        matchers=["service=db"],
        starts_at=now,
        ends_at=now + timedelta(hours=2),
        author="alice",
        comment="maintenance",
        created_at=now,
    )
    api_engine.store.add_silence(silence.to_dict(), actor="alice")
    ticket = api_engine.store.open_ticket(title="disk full", service="db", run_id=failed.id)
    known = {
        "run_id": run_ids,
        "name": ["restart_worker", "purge_queue"],
        "silence_id": [silence.id],
        "ticket_id": [ticket.id],
    }
    # The daemon's ingest door; its workers are not started (deciding is not under test).
    ingest = Pipeline(store=api_engine.store, decider=cast(Any, None), runner=api_engine.runner)
    app = create_app(ingest, engine=api_engine, auth=False)
    app.openapi_schema = copy.deepcopy(_spec())
    return app, known


def _strategy(operation: schemathesis.APIOperation, known: dict[str, list[str]]) -> Any:
    """Valid and invalid requests for ``operation``, some with known ids in the path."""
    modes = [schemathesis.GenerationMode.POSITIVE]
    if operation.path_parameters or operation.query or operation.body or operation.headers:
        modes.append(schemathesis.GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    names = [p.name for p in operation.path_parameters]
    for name in names:
        for value in known.get(name, []):
            strategies.append(operation.as_strategy(path_parameters={name: value}))
    return st.one_of(strategies)


@pytest.mark.parametrize("label", _params())
def test_operation_conforms(label: str, fuzz_app: tuple[FastAPI, dict[str, list[str]]]) -> None:
    """Generated requests to one operation: never a 5xx, always a listed status code and a
    body its schema allows."""
    app, known = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    method, path = label.split(" ", 1)
    operation = schema[path][method]

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, known))
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(session=client, checks=CHECKS)

    # One client for all examples: its lifespan is started once, not per request.
    with asgi.get_client(app) as client:
        fuzz()


def test_every_published_operation_is_fuzzed(
    fuzz_app: tuple[FastAPI, dict[str, list[str]]],
) -> None:
    """The app with an engine publishes exactly the operations collected above."""
    app, _ = fuzz_app
    app.openapi_schema = None
    assert app.openapi() == _spec()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    served = [result.ok().label for result in schema.get_all_operations()]
    assert served == _operation_labels()
