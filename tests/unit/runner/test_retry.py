"""RetryPolicy: bounded attempts, exponential backoff, jitter within its stated band."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grace.runner import RetryPolicy


def test_delays_double_and_cap() -> None:
    """With no jitter, delays double from the initial delay and stop at the cap."""
    policy = RetryPolicy(retries=6, initial_delay_s=1, max_delay_s=10, jitter=0)
    rng = random.Random(1)
    assert [policy.delay(n, rng) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert policy.max_attempts == 7


@given(
    attempt=st.integers(min_value=1, max_value=30),
    initial=st.floats(min_value=0, max_value=100),
    jitter=st.floats(min_value=0, max_value=1),
    seed=st.integers(),
)
def test_jitter_stays_in_band(attempt: int, initial: float, jitter: float, seed: int) -> None:
    """Every delay lands in [(1 - jitter) x nominal, nominal], never above the cap."""
    policy = RetryPolicy(retries=30, initial_delay_s=initial, max_delay_s=60, jitter=jitter)
    nominal = min(60, initial * 2 ** (attempt - 1))
    delay = policy.delay(attempt, random.Random(seed))
    assert nominal * (1 - jitter) - 1e-9 <= delay <= nominal + 1e-9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retries": -1}, "retries cannot be negative"),
        ({"multiplier": 0.5}, "multiplier cannot be less than 1"),
        ({"jitter": 1.5}, "jitter must be between 0 and 1"),
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, float], message: str) -> None:
    """A policy that could loop forever or misbehave is refused when built."""
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
