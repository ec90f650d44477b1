"""Retry policy for one step: bounded attempts, exponential backoff, jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ("RetryPolicy",)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failing step is tried again."""

    retries: int = 0
    """Extra attempts after the first (so ``retries=2`` means at most 3 attempts)."""
    initial_delay_s: float = 1.0
    """Delay before the first retry."""
    max_delay_s: float = 60.0
    """Cap on any single delay."""
    multiplier: float = 2.0
    """Each delay is the previous one times this."""
    jitter: float = 0.5
    """Fraction of each delay that is random: 0.5 means a delay lands in [50%, 100%] of nominal."""

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries cannot be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier cannot be less than 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def delay(self, failed_attempt: int, rng: random.Random) -> float:
        """Seconds to wait after attempt number ``failed_attempt`` (1-based) failed."""
        nominal = min(
            self.max_delay_s, self.initial_delay_s * self.multiplier ** (failed_attempt - 1)
        )
        return nominal * (1 - self.jitter * rng.random())
