"""How ``env.set`` writes dotenv text: quoting, in-place updates, and what readers get back."""

from __future__ import annotations

import io

import pytest
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from grace.actions.builtin.dotenv import _assignments, _lines, _updated, quote_value

VALUES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
KEEP = st.sampled_from(
    [
        "",
        "A=1\n",
        "# comment\nK=old\n",
        "export K='old'\nB=2",
        'K="multi\nline"\nC=3\n',
        "K=1\r\nD=4\r\n",
        "K=first\nK=second # dup\n",
    ]
)


def _read_back(text: str, key: str) -> str | None:
    """The value python-dotenv (used by pydantic-settings and many services) reads."""
    return dotenv_values(stream=io.StringIO(text), interpolate=False).get(key)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("8080", "8080"),
        ("postgres://u@db:5432/x?a=b", "'postgres://u@db:5432/x?a=b'"),
        ("a-b_c.d/e:f@g%h+i,j=k", "a-b_c.d/e:f@g%h+i,j=k"),
        ("", ""),
        ("two words", "'two words'"),
        ("$HOME", "'$HOME'"),
        ("it's", '"it\'s"'),
        ('say "hi"\n', '"say \\"hi\\"\\n"'),
        ("back\\slash", '"back\\\\slash"'),
    ],
)
def test_quote_value(value: str, written: str) -> None:
    """Bare when safe, else single quotes when literal works, else double quotes with escapes."""
    assert quote_value(value) == written


@given(existing=KEEP, value=VALUES)
def test_every_value_reads_back_exactly(existing: str, value: str) -> None:
    """Whatever the value and the file around it, python-dotenv and Grace read the value back."""
    text = _updated(existing, "K", value)

    assert _read_back(text, "K") == value
    assert {a.value for a in _assignments(_lines(text))["K"]} == {value}


@given(existing=KEEP, value=VALUES)
def test_other_lines_are_kept(existing: str, value: str) -> None:
    """Lines that are not an assignment of the key survive unchanged and in order."""
    text = _updated(existing, "K", value)
    before = _lines(existing)
    spans = {i for a in _assignments(before).get("K", []) for i in range(a.first, a.last + 1)}
    kept = [line.rstrip("\r\n") for i, line in enumerate(before) if i not in spans]

    after = [line.rstrip("\r\n") for line in _lines(text)]

    assert [line for line in after if line in kept] == kept


def test_export_prefix_and_indentation_are_kept() -> None:
    """'  export K=…' stays an indented export."""
    assert _updated("  export K=1\n", "K", "2") == "  export K=2\n"
