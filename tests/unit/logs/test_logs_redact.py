"""Redaction: secret keys and secrets inside strings never reach a log line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from grace.logs import (
    REDACTED,
    get_logger,
    is_secret_key,
    redact_secrets,
    redact_text,
    redact_value,
)

ReadLog = Callable[[], list[dict[str, Any]]]


class TestKeys:
    @pytest.mark.parametrize(
        "key",
        [
            "token",
            "password",
            "secret",
            "api_key",
            "authorization",
            "Authorization",
            "X-Api-Key",
            "github_token",
            "AWS_SECRET_ACCESS_KEY",
            "client_secret",
            "db_password",
            "apiKey",
        ],
    )
    def test_secret_keys(self, key: str) -> None:
        """Names of credentials are secret, whatever their case or separator."""
        assert is_secret_key(key)

    @pytest.mark.parametrize(
        "key",
        ["run_id", "event_key", "dedupe_key", "public_key", "message", "keyword", "tokens_used"],
    )
    def test_ordinary_keys(self, key: str) -> None:
        """Ids, dedupe keys and words that merely contain 'key'/'token' are left alone."""
        assert not is_secret_key(key)


class TestText:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("login with password=hunter2 failed", "login with password=*** failed"),
            ("GITHUB_TOKEN=ghp_abc123 exported", "GITHUB_TOKEN=*** exported"),
            ("API_KEY=abc== and more", "API_KEY=*** and more"),
            ("Authorization: Bearer eyJhbGc.x.y", "Authorization: ***"),
            ("sent Bearer eyJhbGc.x.y upstream", "sent Bearer *** upstream"),
            ("postgresql://grace:s3cret@db/grace", "postgresql://grace:***@db/grace"),
            ('{"password": "a b", "user": "bob"}', '{"password": "***", "user": "bob"}'),
            ("note: token=abc", "note: token=***"),
            ("--db-password=x --verbose", "--db-password=*** --verbose"),
        ],
    )
    def test_masks_secrets(self, text: str, expected: str) -> None:
        """KEY=value, KEY: value, Bearer tokens and URL passwords are masked."""
        assert redact_text(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "restarted embedding in 2.5s",
            "time=12:30:00 status=500 event_key=abc",
            "Basic usage of the api",
            "https://example.com:8443/health",
        ],
    )
    def test_leaves_ordinary_text(self, text: str) -> None:
        """Text without credentials is returned unchanged."""
        assert redact_text(text) == text


class TestValues:
    def test_nested_mappings_and_sequences(self) -> None:
        """Secret keys are masked at any depth; the input is not mutated."""
        value: dict[str, Any] = {
            "headers": {"Authorization": "Basic Zm9v", "Accept": "json"},
            "argv": ["-p", "token=x"],
        }
        redacted = redact_value(value)

        assert redacted == {
            "headers": {"Authorization": REDACTED, "Accept": "json"},
            "argv": ["-p", "token=***"],
        }
        assert value["headers"]["Authorization"] == "Basic Zm9v"

    def test_processor_masks_keys_and_strings(self) -> None:
        """The processor masks secret keys and scrubs every string value."""
        event = {"event": "using API_KEY=abc", "api_key": "abc", "attempt": 1}

        assert redact_secrets(None, "info", event) == {
            "event": "using API_KEY=***",
            "api_key": REDACTED,
            "attempt": 1,
        }


class TestInTheLog:
    def test_written_records_are_redacted(self, read_log: ReadLog) -> None:
        """Secrets passed as keys, in the message and in nested values never reach the file."""
        get_logger("actions.http").info(
            "calling with Bearer abc.def",
            event_type="http.request",
            password="hunter2",
            headers={"X-Api-Key": "k-123"},
            command="curl -u user:pw https://x -H 'Authorization: token t-9'",
        )

        [record] = read_log()
        assert record["message"] == "calling with Bearer ***"
        assert record["password"] == REDACTED
        assert record["headers"] == {"X-Api-Key": REDACTED}
        text = str(record)
        for secret in ("hunter2", "k-123", "abc.def", "t-9"):
            assert secret not in text

    def test_exception_text_is_redacted(self, read_log: ReadLog) -> None:
        """A secret inside an exception message is masked in the traceback too."""
        try:
            raise ConnectionError("auth failed for password=hunter2")
        except ConnectionError:
            get_logger("runner").exception("step crashed", event_type="step.crashed")

        [record] = read_log()
        assert "password=***" in record["exception"]
        assert "hunter2" not in record["exception"]
