"""``http.request`` and ``http.check`` against a real local HTTP server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from grace.actions import ActionContext
from grace.actions.builtin.http import (
    BODY_OUTPUT_BYTES,
    HttpCheckParams,
    HttpRequestParams,
    http_check,
    http_request,
)
from grace.errors import ActionError

pytestmark = pytest.mark.anyio

MakeCtx = Callable[..., ActionContext]


async def test_get_parses_json_and_exposes_headers(make_ctx: MakeCtx, http_server: Any) -> None:
    """A JSON answer is parsed into the json output; headers and timing are outputs too."""
    params = HttpRequestParams(url=f"{http_server.base}/json")

    result = await http_request(make_ctx(), params)

    assert result.ok
    assert result.outputs["status"] == 200
    assert result.outputs["json"] == {"a": 1, "items": [1, 2]}
    assert result.outputs["headers"]["x-test"] == "yes"
    assert result.outputs["elapsed_ms"] >= 0
    assert result.summary.startswith("GET http://127.0.0.1:")


async def test_post_sends_json_and_headers(make_ctx: MakeCtx, http_server: Any) -> None:
    """json= is sent as a JSON body with its content type, alongside custom headers."""
    params = HttpRequestParams.model_validate(
        {
            "url": f"{http_server.base}/echo?token=s3cret",
            "method": "POST",
            "json": {"restart": True},
            "headers": {"X-Grace": "1"},
        }
    )

    result = await http_request(make_ctx(), params)

    echo = result.outputs["json"]
    assert echo["method"] == "POST"
    assert echo["body"] == '{"restart":true}'
    assert echo["headers"]["content-type"] == "application/json"
    assert echo["headers"]["x-grace"] == "1"
    assert "s3cret" not in result.summary


async def test_raw_body_is_sent_as_is(make_ctx: MakeCtx, http_server: Any) -> None:
    """body= is sent verbatim with PUT."""
    url = f"{http_server.base}/echo"
    params = HttpRequestParams(url=url, method="PUT", body="plain text")

    result = await http_request(make_ctx(), params)

    assert result.outputs["json"]["body"] == "plain text"
    assert result.outputs["json"]["method"] == "PUT"


async def test_status_400_and_above_fails_by_default(make_ctx: MakeCtx, http_server: Any) -> None:
    """Without expect_status any status below 400 is success; a 503 is a failed step."""
    params = HttpRequestParams(url=f"{http_server.base}/status/503")

    result = await http_request(make_ctx(), params)

    assert not result.ok
    assert result.outputs["status"] == 503
    assert result.outputs["body"] == "status 503"
    assert result.outputs["json"] is None
    assert result.summary.endswith("/status/503: expected status below 400, got 503")


async def test_expect_status_decides_success(make_ctx: MakeCtx, http_server: Any) -> None:
    """expect_status lists the statuses that count as success, even a 404."""
    url = f"{http_server.base}/status/404"

    found = await http_request(make_ctx(), HttpRequestParams(url=url, expect_status=[404]))
    not_ok = await http_request(
        make_ctx(), HttpRequestParams(url=f"{url[:-3]}200", expect_status=[201, 204])
    )

    assert found.ok
    assert not not_ok.ok
    assert not_ok.summary.endswith("expected status 201 or 204, got 200")


async def test_redirects_are_not_followed(make_ctx: MakeCtx, http_server: Any) -> None:
    """A 302 is reported as such, with its Location header."""
    params = HttpRequestParams(url=f"{http_server.base}/redirect")

    result = await http_request(make_ctx(), params)

    assert result.outputs["status"] == 302
    assert result.outputs["headers"]["location"] == "/ok"


async def test_large_body_is_truncated(make_ctx: MakeCtx, http_server: Any) -> None:
    """The body output keeps the first 64 KiB of a 100 KiB answer."""
    params = HttpRequestParams(url=f"{http_server.base}/big")

    result = await http_request(make_ctx(), params)

    assert len(result.outputs["body"]) == BODY_OUTPUT_BYTES == 65536


async def test_head_has_no_body(make_ctx: MakeCtx, http_server: Any) -> None:
    """HEAD requests succeed with an empty body and no JSON."""
    params = HttpRequestParams(url=f"{http_server.base}/ok", method="HEAD")

    result = await http_request(make_ctx(), params)

    assert result.ok
    assert result.outputs["body"] == ""
    assert result.outputs["json"] is None


async def test_connection_refused_is_a_retryable_error(make_ctx: MakeCtx, closed_port: int) -> None:
    """Nothing listening is an ActionError the runner retries."""
    params = HttpRequestParams(url=f"http://127.0.0.1:{closed_port}/x")

    with pytest.raises(
        ActionError, match=rf"GET http://127.0.0.1:{closed_port}/x: ConnectError"
    ) as info:
        await http_request(make_ctx(), params)

    assert info.value.retryable is True
    assert info.value.type == "HttpConnectError"


async def test_timeout_is_a_retryable_error(make_ctx: MakeCtx, http_server: Any) -> None:
    """No answer within timeout_s is a retryable HttpTimeout."""
    url = f"{http_server.base}/slow"

    with pytest.raises(ActionError, match=r"/slow: no response within 0.2s") as info:
        await http_request(make_ctx(), HttpRequestParams(url=url, timeout_s=0.2))

    assert info.value.retryable is True
    assert info.value.type == "HttpTimeout"


async def test_check_passes_on_expected_status_and_body(
    make_ctx: MakeCtx, http_server: Any
) -> None:
    """A check with the right status and a matching body passes and changes nothing."""
    params = HttpCheckParams(url=f"{http_server.base}/ok", body_regex=r"all\s+good")

    result = await http_check(make_ctx(), params)

    assert result.ok
    assert result.changed is False
    assert result.outputs["status"] == 200
    assert result.outputs["matched"] is True


async def test_check_status_mismatch_says_expected_and_got(
    make_ctx: MakeCtx, http_server: Any
) -> None:
    """A wrong status fails the check with 'expected …, got …'."""
    params = HttpCheckParams(url=f"{http_server.base}/status/503")

    result = await http_check(make_ctx(), params)

    assert not result.ok
    assert result.summary.endswith("/status/503: expected status 200, got 503")
    assert result.outputs["matched"] is None


async def test_check_body_mismatch_fails(make_ctx: MakeCtx, http_server: Any) -> None:
    """The right status with a body that does not match still fails."""
    params = HttpCheckParams(url=f"{http_server.base}/ok", body_regex="healthy")

    result = await http_check(make_ctx(), params)

    assert not result.ok
    assert result.outputs["matched"] is False
    assert result.summary.endswith("status 200 but the body does not match 'healthy'")


async def test_check_connection_refused_is_a_failed_check(
    make_ctx: MakeCtx, closed_port: int
) -> None:
    """A check against a dead port fails (retryably) instead of raising."""
    params = HttpCheckParams(url=f"http://127.0.0.1:{closed_port}/health")

    result = await http_check(make_ctx(), params)

    assert not result.ok
    assert result.outputs["status"] is None
    assert f"GET http://127.0.0.1:{closed_port}/health: ConnectError" in result.summary


async def test_check_timeout_is_a_failed_check(make_ctx: MakeCtx, http_server: Any) -> None:
    """A check that gets no answer in time fails with a clear summary."""
    params = HttpCheckParams(url=f"{http_server.base}/slow", timeout_s=0.2)

    result = await http_check(make_ctx(), params)

    assert not result.ok
    assert result.summary.endswith("/slow: no response within 0.2s")
