"""Property: whatever a playbook file contains, loading returns a Playbook or raises
PlaybookError, never any other exception."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from grace.actions import ActionRegistry
from grace.errors import PlaybookError
from grace.playbooks import Playbook, bundled_dir, load_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "playbooks"
SEEDS = [
    p.read_text(encoding="utf-8")
    for p in [*sorted((FIXTURES / "valid").glob("*.yaml")), bundled_dir() / "log_and_notify.yaml"]
]
EXAMPLES = int(os.environ.get("GRACE_FUZZ_EXAMPLES", "150"))

JUNK_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
    st.sampled_from(
        [
            "{{ evnt.id }}",
            "{{ steps.nope.outputs.x }}",
            "{{ event.mesage }}",
            "{% for x in y %}",
            "{{ x | nofilter }}",
            "{% include 'x' %}",
            "(((",
            "0 25 * * *",
            "@hourlyy",
            "Europe/Pariss",
            "servce.restart",
            "log",
            "sleep",
            "shell",
            "[unclosed",
            "on_failure_1",
            "steps.a.outputs.b | length > 0",
        ]
    ),
)


def _dump(data: Any) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, stream)
    return stream.getvalue()


def _containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, dict | list):
        out.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            _containers(child, out)
    return out


def mutate_data(draw: st.DrawFn, text: str) -> str:
    """Parse, change the structure (delete, insert, retype, swap), dump again."""
    data = YAML(typ="safe", pure=True).load(text)
    for _ in range(draw(st.integers(1, 4))):
        containers = _containers(data, [])
        target = draw(st.sampled_from(containers))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        operation = draw(st.sampled_from(["delete", "insert", "retype", "swap"]))
        if operation == "insert" or not keys:
            if isinstance(target, dict):
                target[draw(st.text(min_size=1, max_size=12))] = draw(JUNK_VALUES)
            else:
                target.insert(draw(st.integers(0, len(target))), draw(JUNK_VALUES))
        elif operation == "delete":
            del target[draw(st.sampled_from(keys))]
        elif operation == "retype":
            target[draw(st.sampled_from(keys))] = draw(JUNK_VALUES)
        else:
            a, b = draw(st.sampled_from(keys)), draw(st.sampled_from(keys))
            target[a], target[b] = target[b], target[a]
    return _dump(data)


def mutate_text(draw: st.DrawFn, text: str) -> str:
    """Damage the characters: truncate, insert junk, drop, repeat, swap or re-indent lines."""
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        operation = draw(
            st.sampled_from(["truncate", "insert", "drop", "repeat", "swap", "indent", "char"])
        )
        if operation == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        elif operation == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.text(max_size=12)) + text[at:]
        elif operation == "char" and text:
            at = draw(st.integers(0, len(text) - 1))
            text = text[:at] + draw(st.characters()) + text[at + 1 :]
        elif operation in {"drop", "repeat", "swap", "indent"} and lines:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if operation == "drop":
                del lines[i]
            elif operation == "repeat":
                lines.insert(i, lines[j])
            elif operation == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines[i] = draw(st.sampled_from(["", " ", "  ", "\t", "      "])) + lines[i].lstrip(
                    " "
                )
            text = "\n".join(lines)
    return text


@st.composite
def mutated_playbooks(draw: st.DrawFn) -> str:
    """A valid playbook, damaged structurally, textually, or both."""
    text = draw(st.sampled_from(SEEDS))
    kind = draw(st.sampled_from(["data", "text", "both", "bytes"]))
    if kind in {"data", "both"}:
        text = mutate_data(draw, text)
    if kind in {"text", "both"}:
        text = mutate_text(draw, text)
    if kind == "bytes":
        raw = bytearray(text.encode())
        for _ in range(draw(st.integers(1, 8))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        text = raw.decode("utf-8", errors="replace")
    return text


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated_playbooks())
def test_loader_only_returns_a_playbook_or_raises_playbook_error(
    text: str, registry: ActionRegistry
) -> None:
    """Random damage never escapes as anything but PlaybookError, and every problem is placed."""
    try:
        result: Playbook | PlaybookError = load_text(text, file="fuzz.yaml", registry=registry)
    except PlaybookError as exc:
        result = exc
    if isinstance(result, PlaybookError):
        assert result.problems
        for problem in result.problems:
            assert problem.file == "fuzz.yaml"
            assert problem.line >= 1
            assert problem.message
    else:
        assert isinstance(result, Playbook)
