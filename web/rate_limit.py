"""A token bucket: how many messages one live-channel connection may send, and how fast.

A client that floods its channel must not slow down the session for the others: each
connection has its own bucket, refilled at ``rate`` tokens a second up to ``burst``; a
message takes one token, and a message that finds the bucket empty is refused (not
queued) with the time after which one token will be there again. The bucket costs two
numbers and no lock: one connection's messages are received by one task.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _updated: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a token bucket needs a positive rate and a burst of at least 1, not {self.rate}/"
                             f"{self.burst}")
        self._tokens = float(self.burst)
        self._updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self) -> bool:
        """Take one token if there is one; False means: refuse this message."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def retry_after_ms(self) -> int:
        """Milliseconds until the next token (at least 1 when the bucket is empty)."""
        self._refill()
        missing = 1.0 - self._tokens
        return 0 if missing <= 0 else max(1, math.ceil(1000 * missing / self.rate))
