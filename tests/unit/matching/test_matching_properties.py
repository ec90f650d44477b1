"""Property: every backend gives the same matches, captures and scanned lines as plain ``re``."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matching_support import event, installed_backends, reference_scan, trigger

from grace.events import EVENT_KINDS, SEVERITIES, Event
from grace.matching import PRIORITIES, TRIGGER_KINDS, Matcher, Trigger

ALPHABET = "ab c1_-\té日K\u212a\u017fS\r"  # \u212a Kelvin sign, \u017f long s
ATOMS = (
    "a",
    "b",
    "c",
    "1",
    "é",
    "日",
    "k",
    "K",
    " ",
    "-",
    ".",
    r"\d",
    r"\w",
    r"\s",
    r"\S",
    r"\W",
    "[a-c]",
    "[^a]",
    r"[^\s]",
    r"[\w-]",
    "[é-ü]",
    "[^b-z1]",
    r"\b",
    "^",
    "$",
    "(?i:k)",
    "(?i:s)",
)
QUANTIFIERS = ("", "", "", "*", "+", "?", "{1,2}", "{0,3}", "*?", "+?")
UNQUANTIFIABLE = (r"\b", "^", "$")


@st.composite
def regexes(draw: st.DrawFn, depth: int = 0) -> str:
    """A random regex from a safe grammar: atoms, quantifiers, alternation, named groups."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        shape = draw(st.sampled_from(("atom", "atom", "atom", "alternation", "group")))
        if shape == "atom" or depth >= 2:
            atom = draw(st.sampled_from(ATOMS))
            quantifier = "" if atom in UNQUANTIFIABLE else draw(st.sampled_from(QUANTIFIERS))
        elif shape == "alternation":
            branches = draw(st.lists(regexes(depth + 1), min_size=2, max_size=3))
            atom, quantifier = "(?:" + "|".join(branches) + ")", draw(st.sampled_from(("", "?")))
        else:
            name = f"g{draw(st.integers(0, 9))}"
            atom = f"(?P<{name}>" + draw(regexes(depth + 1)) + ")"
            quantifier = draw(st.sampled_from(("", "?", "{1,2}")))
        parts.append(atom + quantifier)
    pattern = "".join(parts)
    try:
        re.compile(pattern)
    except re.error:  # a group name used twice
        pattern = re.sub(r"\(\?P<g\d>", "(", pattern)
    return pattern


lines = st.text(alphabet=ALPHABET, max_size=10)
buffers = st.builds(
    lambda ls, tail: ("\n".join(ls) + tail).encode(),
    st.lists(lines, max_size=6),
    st.sampled_from(("", "\n")),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patterns=st.lists(regexes(), min_size=1, max_size=7),
    buffer=buffers,
    message=st.lists(lines, min_size=1, max_size=3).map("\n".join),
)
def test_backends_agree_with_re(patterns: list[str], buffer: bytes, message: str) -> None:
    """Every installed backend gives the matches, captures and lines plain ``re`` gives."""
    triggers = [trigger(f"p{i}", p) for i, p in enumerate(patterns)]
    expected_matches = []
    for t in triggers:
        found = re.search(t.pattern or "", message, re.MULTILINE)
        if found:
            captures = {k: v for k, v in found.groupdict().items() if v is not None}
            expected_matches.append((t.playbook, captures))
    expected_lines = reference_scan(buffer, dict.fromkeys(patterns))
    for name in installed_backends():
        matcher = Matcher(triggers, backend=name)
        got = [(m.playbook, m.captures) for m in matcher.match(event(message))]
        assert got == expected_matches, f"match differs on {name}"
        assert matcher.scan(buffer) == expected_lines, f"scan differs on {name}"


def test_fast_backends_are_installed(backend: str) -> None:
    """The property above covers each backend (skipped when missing; fails in CI)."""
    assert Matcher([trigger(pattern="x")], backend=backend).backend == backend


filter_triggers = st.builds(
    lambda playbook, index, type_, pattern, severity, service, priority, metric, threshold: trigger(
        playbook,
        pattern,
        index=index,
        type=type_,
        severity=severity,
        service=service,
        priority=priority,
        metric=metric,
        threshold=threshold,
    ),
    st.sampled_from(("a", "b", "c")),
    st.integers(0, 2),
    st.sampled_from(sorted(TRIGGER_KINDS)),
    st.sampled_from((None, "boom", r"(?P<n>\d+)", "^x")),
    st.sampled_from((None, *SEVERITIES)),
    st.sampled_from((None, "api", "db")),
    st.sampled_from(PRIORITIES),
    st.sampled_from((None, "disk")),
    st.sampled_from((None, 50.0)),
)
filter_events = st.builds(
    lambda kind, severity, service, message, attributes: event(
        message, kind=kind, severity=severity, service=service, attributes=attributes
    ),
    st.sampled_from(EVENT_KINDS),
    st.sampled_from(SEVERITIES),
    st.sampled_from(("", "api", "db")),
    st.sampled_from(("boom 42", "x", "", "nothing")),
    st.fixed_dictionaries(
        {},
        optional={
            "metric": st.sampled_from(("disk", "cpu")),
            "value": st.sampled_from((10, 75.5, "80", "n/a")),
            "playbook": st.sampled_from(("a", "b")),
        },
    ),
)


@settings(max_examples=200, deadline=None)
@given(triggers=st.lists(filter_triggers, max_size=8), evt=filter_events)
def test_explain_agrees_with_match(triggers: list[Trigger], evt: Event) -> None:
    """explain marks as matched exactly the triggers match returns, in the same order."""
    matcher = Matcher(triggers, backend="re")
    explained = [(e.trigger.playbook, e.trigger.index) for e in matcher.explain(evt) if e.matched]
    assert explained == [(m.playbook, m.trigger_index) for m in matcher.match(evt)]
    for explanation in matcher.explain(evt):
        assert explanation.near_miss == (len(explanation.reasons) == 1 and not explanation.matched)
