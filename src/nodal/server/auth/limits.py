"""Abuse limits for credentialed callers: requests per second and concurrent streams per token.

The local socket's owner is not limited (it could stop the server anyway). Sizes are limited
by gRPC itself (`max_receive_message_length`, NODAL_MAX_REQUEST_BYTES).
"""

from __future__ import annotations

import os
import time

DEFAULT_RATE = 2000.0  # requests (and streamed messages) per second per token
DEFAULT_STREAMS = 256  # streaming RPCs open at once per token


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"{name} must be positive, not {raw!r}")
    return value


class _Bucket:
    __slots__ = ("tokens", "at")

    def __init__(self, burst: float) -> None:
        self.tokens = burst
        self.at = time.monotonic()


class Limits:
    """Token buckets (rate `rate`/s, burst 2 s worth) and open-stream counts, per credential."""

    def __init__(self, rate: float | None = None, streams: int | None = None) -> None:
        self.rate = rate if rate is not None else _env_number("NODAL_RATE_LIMIT", DEFAULT_RATE)
        self.max_streams = int(streams if streams is not None else _env_number("NODAL_MAX_STREAMS", DEFAULT_STREAMS))
        self.burst = self.rate * 2
        self._buckets: dict[str, _Bucket] = {}
        self._streams: dict[str, int] = {}

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """Take `cost` from `key`'s bucket; False when it is empty (the call is refused)."""
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            b = self._buckets[key] = _Bucket(self.burst)
        now = time.monotonic()
        b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
        b.at = now
        if b.tokens < cost:
            return False
        b.tokens -= cost
        return True

    def open_stream(self, key: str) -> bool:
        n = self._streams.get(key, 0)
        if n >= self.max_streams:
            return False
        self._streams[key] = n + 1
        return True

    def close_stream(self, key: str) -> None:
        n = self._streams.get(key, 0) - 1
        if n <= 0:
            self._streams.pop(key, None)
        else:
            self._streams[key] = n
