"""Per-client rate limits for the endpoints that run the model, so one client cannot starve the others."""

from __future__ import annotations

import math
import threading
import time

from flask import current_app, request
from werkzeug.exceptions import TooManyRequests


class RateLimiter:
    """A token bucket per client: `per_minute` requests on average, bursts of up to `burst`."""

    def __init__(self, per_minute: float, burst: int, max_clients: int = 10_000):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, updated at)
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before the next one will."""
        now = time.monotonic()
        with self._lock:
            tokens, updated = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - updated) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1 - tokens) / self.rate
            if len(self._buckets) > self.max_clients:  # forget the idlest clients: memory stays bounded
                for key, _ in sorted(self._buckets.items(), key=lambda item: item[1][1])[: self.max_clients // 10]:
                    del self._buckets[key]
        return wait


def limit_model_use() -> None:
    """429 when this client asked the model too often (admin-token requests and disabled limits pass)."""
    from . import auth

    limiter: RateLimiter | None = current_app.extensions.get("pixcept_limiter")
    if limiter is None or auth.current_level() == auth.ADMIN:
        return
    wait = limiter.take(request.remote_addr or "unknown")
    if wait:
        raise TooManyRequests(f"Too many searches; try again in {math.ceil(wait)} s.", retry_after=math.ceil(wait))
