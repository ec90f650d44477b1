"""The dashboard's silences page over a real engine (SQLite, and PostgreSQL when
``GRACE_TEST_DATABASE_URL`` is set), served in-process through ``httpx.ASGITransport`` with auth
on: listing, the New silence form (the API's checks, field named on a refusal), Expire, the
same rights as ``/api/silences`` (viewer reads, operator changes), CSRF, and the audit log."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from dashboard_support import form_csrf, log_in, new_token

from grace.api import create_app
from grace.engine import Engine
from grace.governance import DecisionKind, new_silence
from grace.testing import StoreIngest, decider_for, make_event
from grace.tokens import Role

pytestmark = pytest.mark.anyio

CREATE_FORM = 'action="/silences"'


def alert(html: str) -> str:
    """The page's error message (its ``role="alert"`` paragraph), or ""."""
    found = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', html, re.S)
    return "" if found is None else found.group(1)


def audited(engine: Engine, action: str) -> list[tuple[str, str]]:
    """(actor, subject) of every audit entry with this action, oldest first."""
    return [
        (e.actor, e.subject) for e in engine.store.audit_entries(limit=10_000) if e.action == action
    ]


def silence(engine: Engine, sid: str, matchers: list[str], *, hours: float = 2) -> str:
    """Store a silence starting now for ``hours``, by alice; its id."""
    now = engine.clock.now()
    made = new_silence(
        id=sid,
        matchers=matchers,
        starts_at=now,
        ends_at=now + timedelta(hours=hours),
        author="alice",
        comment="db maintenance",
        created_at=now,
    )
    engine.store.add_silence(made.to_dict(), actor="alice")
    return sid


def in_force(engine: Engine) -> list[str]:
    """Ids of the silences active now."""
    return [s["id"] for s in engine.store.silences(active_at=engine.clock.now())]


async def test_a_viewer_sees_the_silences_but_no_form(
    browser_client: httpx.AsyncClient, web_engine: Engine
) -> None:
    """A viewer's silences page (and its live fragment) lists the active silence (id, matchers,
    who, why, time left) and the expired one under Recently expired, with no create or expire
    form, only what role they need; the nav links to it. The viewer's posts are 403 and change
    nothing."""
    silence(web_engine, "sil_db", ["service=db", "alertname=~Disk.*"])
    silence(web_engine, "sil_old", ["service=web"])
    assert web_engine.store.expire_silence("sil_old", by="bob")
    await log_in(browser_client, new_token(web_engine, Role.VIEWER, "val"))

    page = await browser_client.get("/silences")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/silences" aria-current="page">Silences</a>' in html
    current, expired = html.split('id="s-expired"')
    assert 'id="sil-sil_db"' in current
    assert "service=&#34;db&#34;" in current  # matchers as Grace writes them, escaped
    assert "alertname=~&#34;Disk.*&#34;" in current
    assert "alice" in current
    assert "db maintenance" in current
    assert "<td>2h<" in current  # time left, as the CLI and the silence docs write durations
    assert 'id="sil-sil_old"' in expired
    assert 'id="sil-sil_old"' not in current
    assert CREATE_FORM not in html
    assert "/expire" not in html
    assert "Creating a silence needs the operator role; you are viewer." in html
    assert "expiring needs the operator role" in html
    fragment = await browser_client.get("/ui/silences")
    assert fragment.status_code == 200
    assert 'id="sil-sil_db"' in fragment.text
    assert "1 silence(s) in force or pending" in fragment.text
    assert "<html" not in fragment.text

    csrf = form_csrf(html)  # the log-out form's token: the session's
    created = await browser_client.post(
        "/silences", data={"csrf_token": csrf, "matchers": "service=x", "comment": "c"}
    )
    assert created.status_code == 403
    assert "needs the operator role" in created.json()["error"]
    ended = await browser_client.post("/silences/sil_db/expire", data={"csrf_token": csrf})
    assert ended.status_code == 403
    assert in_force(web_engine) == ["sil_db"]
    assert audited(web_engine, "silence.created") == [("alice", "sil_db"), ("alice", "sil_old")]


async def test_an_operator_creates_a_silence_that_mutes_matching_events(
    browser_client: httpx.AsyncClient, web_engine: Engine
) -> None:
    """An operator fills in the New silence form (two matchers, 2h, a reason): the silence is
        stored under the token's name, audited, listed by ``GET /api/silences`` and on the page;
        the governor then suppresses a matching event (naming the silence) and not another
        service's. A post without the CSRF token is 403 and creates nothing. One starting in an
    hour is listed as pending, with when it starts."""
    await log_in(browser_client, new_token(web_engine, Role.OPERATOR, "olga"))
    page = await browser_client.get("/silences")
    assert CREATE_FORM in page.text
    assert 'for="s-matchers"' in page.text
    csrf = form_csrf(page.text)
    form = {
        "matchers": "service=api\r\n\r\n  playbook=rotate_keys  \r\n",
        "duration": "2h",
        "comment": "rotating keys by hand",
    }
    forged = await browser_client.post("/silences", data=form)
    assert forged.status_code == 403
    assert "CSRF" in forged.json()["error"]
    assert web_engine.store.silences() == []

    made = await browser_client.post("/silences", data={**form, "csrf_token": csrf})
    assert made.status_code == 303, made.text
    location = made.headers["location"]
    [stored] = web_engine.store.silences()
    assert location == f"/silences?done=created#sil-{stored['id']}"
    now = web_engine.clock.now()
    assert stored["matchers"] == ['service="api"', 'playbook="rotate_keys"']
    assert (stored["author"], stored["comment"]) == ("olga", "rotating keys by hand")
    assert datetime.fromisoformat(stored["ends_at"]) == now + timedelta(hours=2)
    assert audited(web_engine, "silence.created") == [("olga", stored["id"])]
    api = (await browser_client.get("/api/silences")).json()
    assert [(s["id"], s["state"], s["author"]) for s in api["items"]] == [
        (stored["id"], "active", "olga")
    ]
    shown = (await browser_client.get(location)).text
    assert "Silence created" in shown
    assert f'id="sil-{stored["id"]}"' in shown.split('id="s-expired"')[0]

    decide = decider_for(web_engine).decide
    [muted] = decide(make_event("signing key expired", id="evt_a", service="api", time=now))
    assert muted.decision.kind is DecisionKind.SUPPRESSED
    assert muted.decision.guard == "silenced"
    assert stored["id"] in muted.decision.reason
    [other] = decide(make_event("signing key expired", id="evt_b", service="edge", time=now))
    assert other.decision.guard != "silenced", other.decision.reason

    later = {
        "matchers": "service=db",
        "starts_at": (now + timedelta(hours=1)).isoformat(),
        "duration": "30m",
        "comment": "tonight's failover",
        "csrf_token": csrf,
    }
    assert (await browser_client.post("/silences", data=later)).status_code == 303
    pending = (await browser_client.get("/ui/silences")).text
    assert '<span class="badge st-proposed">pending</span>' in pending
    assert '<td>1h30m<br><span class="muted small">starts in 1h</span></td>' in pending
    assert "2 silence(s) in force or pending" in pending


async def test_an_invalid_form_is_refused_naming_the_field(
    browser_client: httpx.AsyncClient, web_engine: Engine
) -> None:
    """No matcher, a bad duration, a bad matcher, a duration with an end, a missing reason:
    each re-renders the page with 422, the message naming the field, that field marked
    invalid, and what was typed kept; nothing is stored or audited."""
    await log_in(browser_client, new_token(web_engine, Role.OPERATOR, "olga"))
    csrf = form_csrf((await browser_client.get("/silences")).text)
    cases: list[tuple[dict[str, str], str, str, str]] = [
        ({"matchers": " \n", "comment": "why"}, "matchers", "matchers", 'id="s-matchers"'),
        (
            {"matchers": "service=db", "duration": "5 parsecs", "comment": "why"},
            "duration",
            "5 parsecs",
            'id="s-duration"',
        ),
        ({"matchers": 'service=~"("', "comment": "why"}, "matcher", "(", 'id="s-matchers"'),
        (
            {
                "matchers": "service=db",
                "duration": "1h",
                "ends_at": "2026-01-01T18:00:00+00:00",
                "comment": "why",
            },
            "duration or ends_at",
            "not both",
            'id="s-duration"',
        ),
        (
            {"matchers": "service=db", "duration": "1h"},
            "comment",
            "Field required",
            'id="s-comment"',
        ),
    ]
    for data, named, says, marked in cases:
        refused = await browser_client.post("/silences", data={**data, "csrf_token": csrf})
        assert refused.status_code == 422, (data, refused.text)
        message = alert(refused.text)
        assert message.startswith("The silence was not created: "), message
        assert named in message, (data, message)
        assert says in message.replace("&#34;", '"').replace("&#39;", "'"), (data, message)
        tag = re.search(rf"<(?:input|textarea) {marked}[^>]*>", refused.text)
        assert tag is not None, marked
        assert 'aria-invalid="true"' in tag.group(0), (data, tag.group(0))
        if data.get("comment"):
            assert 'value="why"' in refused.text  # what was typed is kept
        assert CREATE_FORM in refused.text
    assert web_engine.store.silences() == []
    assert audited(web_engine, "silence.created") == []


async def test_an_operator_expires_a_silence_from_the_page(
    browser_client: httpx.AsyncClient, web_engine: Engine
) -> None:
    """Expire ends the silence now (store and audit under the token's name) and it moves to
    Recently expired; expiring it again, or an unknown id, says no silence is in force (404)
    and changes nothing; without the CSRF token it is 403."""
    sid = silence(web_engine, "sil_db", ["service=db"])
    await log_in(browser_client, new_token(web_engine, Role.OPERATOR, "olga"))
    page = (await browser_client.get("/silences")).text
    assert f'action="/silences/{sid}/expire"' in page
    assert f'Expire<span class="sr-only"> silence {sid}</span>' in page
    csrf = form_csrf(page)
    assert (await browser_client.post(f"/silences/{sid}/expire")).status_code == 403
    assert in_force(web_engine) == [sid]

    ended = await browser_client.post(f"/silences/{sid}/expire", data={"csrf_token": csrf})
    assert ended.status_code == 303, ended.text
    assert ended.headers["location"] == "/silences?done=expired"
    assert in_force(web_engine) == []
    assert audited(web_engine, "silence.expired") == [("olga", sid)]
    after = (await browser_client.get(ended.headers["location"])).text
    assert "Silence expired" in after
    current, expired = after.split('id="s-expired"')
    assert "Nothing is silenced." in current
    assert f'id="sil-{sid}"' in expired

    for gone in (sid, "sil_nope"):
        again = await browser_client.post(f"/silences/{gone}/expire", data={"csrf_token": csrf})
        assert again.status_code == 404
        assert f"No silence &#39;{gone}&#39; is in force" in alert(again.text)
        assert "nothing changed" in alert(again.text)
    assert audited(web_engine, "silence.expired") == [("olga", sid)]


async def test_with_auth_off_the_forms_ask_who_acts(web_engine: Engine) -> None:
    """With API auth off the New silence and Expire forms ask for a name, required as the API
    requires ``author`` and ``by``; the names given are recorded."""
    app: Any = create_app(StoreIngest(web_engine.store), engine=web_engine, auth=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://grace.test"
    ) as client:
        page = (await client.get("/silences")).text
        assert 'id="s-author" name="author" required' in page
        form = {"matchers": "service=db", "comment": "failover"}
        nameless = await client.post("/silences", data=form)
        assert nameless.status_code == 422
        assert "author: required when API auth is off" in alert(nameless.text)
        made = await client.post("/silences", data={**form, "author": "carol"})
        assert made.status_code == 303, made.text
        [stored] = web_engine.store.silences()
        assert stored["author"] == "carol"
        assert datetime.fromisoformat(stored["ends_at"]) == web_engine.clock.now() + timedelta(
            hours=1
        )  # the API's default duration
        listed = (await client.get("/silences")).text
        assert f'id="by-{stored["id"]}" name="by" required' in listed
        assert (await client.post(f"/silences/{stored['id']}/expire")).status_code == 422
        ended = await client.post(f"/silences/{stored['id']}/expire", data={"by": "dave"})
        assert ended.status_code == 303
    assert audited(web_engine, "silence.created") == [("carol", stored["id"])]
    assert audited(web_engine, "silence.expired") == [("dave", stored["id"])]
