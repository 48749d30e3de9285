"""Bounded exponential backoff for every wait (runs, checks, eventual consistency).

The sleep function and the clock are injected, so a replayed test or the demo never sleeps:
they pass a sleep that only records how long it would have waited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    """The condition did not hold within the bound."""

    def __init__(self, what: str, waited: float, attempts: int) -> None:
        super().__init__(f"gave up waiting for {what} after {waited:.0f}s ({attempts} checks)")
        self.what = what
        self.waited = waited
        self.attempts = attempts


@dataclass
class Backoff:
    """Delays ``first, 2*first, 4*first, ...`` capped at ``cap``, for at most ``timeout`` s."""

    first: float = 5.0
    cap: float = 60.0
    timeout: float = 1800.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delays(self):
        waited, delay = 0.0, self.first
        while waited < self.timeout:
            step = min(delay, self.cap, self.timeout - waited)
            yield step
            waited += step
            delay *= 2

    def until(
        self,
        check: Callable[[], T | None],
        what: str,
        on_wait: Callable[[int, float], None] | None = None,
    ) -> T:
        """Call ``check`` until it returns something other than None; return that."""
        attempts, waited = 0, 0.0
        delays = self.delays()
        while True:
            attempts += 1
            result = check()
            if result is not None:
                return result
            delay = next(delays, None)
            if delay is None:
                raise WaitTimeout(what, waited, attempts)
            if on_wait:
                on_wait(attempts, delay)
            self.sleep(delay)
            waited += delay


class RecordingSleep:
    """A sleep that does not sleep; it remembers the delays (tests, demo)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
