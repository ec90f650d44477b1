"""The pure restart policy: backoff, the start-limit window and its reset rules."""

from __future__ import annotations

import random

import pytest

from grace.supervisor import (
    BackoffConfig,
    StartLimitConfig,
    StartLimiter,
    backoff_delay,
    wants_restart,
)
from grace.testing import FakeClock


class TestBackoff:
    def test_a_stable_run_restarts_at_once(self) -> None:
        """failures 0 (the run that ended was stable): no delay."""
        assert backoff_delay(BackoffConfig(initial_s=1, jitter=0), 0) == 0.0

    def test_grows_exponentially_up_to_the_cap(self) -> None:
        """initial * multiplier^(n-1), capped at max_s."""
        config = BackoffConfig(initial_s=0.5, multiplier=2, max_s=3, jitter=0)
        assert [backoff_delay(config, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]

    def test_jitter_stays_within_its_fraction(self) -> None:
        """plus or minus jitter * delay, never negative."""
        config = BackoffConfig(initial_s=1, multiplier=2, max_s=100, jitter=0.25)
        rng = random.Random(7)
        delays = [backoff_delay(config, 3, rng) for _ in range(200)]
        assert all(3.0 <= d <= 5.0 for d in delays)
        assert len({round(d, 6) for d in delays}) > 100


class TestWantsRestart:
    @pytest.mark.parametrize(
        ("policy", "reason", "code", "expected"),
        [
            ("always", "exited", 0, True),
            ("always", "exited", 1, True),
            ("on-failure", "exited", 0, False),
            ("on-failure", "exited", 1, True),
            ("on-failure", "exited", -9, True),
            ("on-failure", "exited", None, True),
            ("on-failure", "unhealthy", 0, True),
            ("never", "exited", 1, False),
            ("never", "unhealthy", None, False),
        ],
    )
    def test_policy_table(self, policy: str, reason: str, code: int | None, expected: bool) -> None:
        """A clean exit restarts only under ``always``; a hang is always a failure."""
        assert wants_restart(policy, reason, code) is expected  # type: ignore[arg-type]


class TestStartLimit:
    def _limiter(self) -> StartLimiter:
        return StartLimiter(StartLimitConfig(burst=3, window_s=10))

    def test_burst_starts_within_the_window_then_refused(self) -> None:
        """Three starts in 10 s are allowed; the fourth is not."""
        clock, limiter = FakeClock(), self._limiter()
        for _ in range(3):
            assert limiter.may_start(clock.monotonic())
            limiter.record_start(clock.monotonic())
            clock.advance(1)
        assert not limiter.may_start(clock.monotonic())

    def test_rule1_the_window_slides(self) -> None:
        """Starts fall out one by one as they age past window_s (not all at once)."""
        clock, limiter = FakeClock(), self._limiter()
        for step in (0, 4, 4):  # starts at t=0, 4, 8
            clock.advance(step)
            limiter.record_start(clock.monotonic())
        assert not limiter.may_start(clock.monotonic())  # t=8: three in the window
        clock.advance(1.9)  # t=9.9: the t=0 start is still inside
        assert not limiter.may_start(clock.monotonic())
        clock.advance(0.1)  # t=10: it left; the other two remain
        assert limiter.count(clock.monotonic()) == 2
        assert limiter.may_start(clock.monotonic())
        limiter.record_start(clock.monotonic())
        assert not limiter.may_start(clock.monotonic())

    def test_rule2_a_stable_run_clears_count_and_backoff(self) -> None:
        """mark_stable (up reset_after_s, healthy) empties the window and the failures."""
        clock, limiter = FakeClock(), self._limiter()
        for _ in range(3):
            limiter.record_start(clock.monotonic())
            limiter.record_end(stable=False)
        assert limiter.failures == 3
        limiter.mark_stable()
        assert limiter.count(clock.monotonic()) == 0
        assert limiter.failures == 0
        assert limiter.may_start(clock.monotonic())

    def test_a_crash_of_a_stable_run_resets_failures(self) -> None:
        """record_end(stable=True) → 0 (restart at once); unstable runs count up."""
        limiter = self._limiter()
        assert [limiter.record_end(stable=False) for _ in range(3)] == [1, 2, 3]
        assert limiter.record_end(stable=True) == 0
        assert limiter.record_end(stable=False) == 1

    def test_rule3_a_manual_start_clears_everything(self) -> None:
        """reset() (grace services start/restart) clears the window, even when full."""
        clock, limiter = FakeClock(), self._limiter()
        for _ in range(3):
            limiter.record_start(clock.monotonic())
            limiter.record_end(stable=False)
        assert not limiter.may_start(clock.monotonic())
        limiter.reset()
        assert limiter.may_start(clock.monotonic())
        assert limiter.failures == 0
