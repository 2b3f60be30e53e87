"""What shared state costs: a rate-limit check and a dashboard cache hit, in the process and in
Redis (``service.shared_state``).

    python bench/shared_state.py --redis redis://127.0.0.1:6379/15 [--n 20000]

The Redis database given is flushed before and after. Prints median and p99 per operation
and the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from analytics.dashboard.cache import StaleWhileRevalidate
from service.ratelimit import RateLimiter
from service.shared_state import SharedState

# A dashboard bundle's size: 0.2 M characters of JSON (see analytics/dashboard/cache.py).
BUNDLE = '{"figures":[' + ",".join(["1.25"] * 40_000) + "]}"


def timed(op: Callable[[int], object], n: int) -> tuple[float, float]:
    """Median and p99 of op(i) over n calls, in milliseconds."""
    times = []
    for i in range(n):
        t = time.perf_counter()
        op(i)
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times) * 1e3, times[int(n * 0.99)] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", required=True, help="a Redis URL whose database may be flushed")
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    store = SharedState(args.redis)
    store.run(lambda r: r.flushdb())
    print(f"load average {os.getloadavg()[0]:.1f}, n={args.n}, bundle {len(BUNDLE)} chars")
    for name, shared in (("in-process", None), ("redis", store)):
        limiter = RateLimiter.from_setting("30/minute", shared=shared)
        med, p99 = timed(lambda i, rl=limiter: rl.hit(f"client-{i % 1000}"), args.n)
        print(f"rate-limit check, {name}: median {med:.3f} ms, p99 {p99:.3f} ms")
        cache = StaleWhileRevalidate(shared=shared)
        cache.get("bundle", lambda: BUNDLE)
        med, p99 = timed(lambda i, c=cache: c.get("bundle", lambda: BUNDLE), args.n // 10)
        print(f"dashboard cache hit, {name}: median {med:.3f} ms, p99 {p99:.3f} ms")
    store.run(lambda r: r.flushdb())


if __name__ == "__main__":
    main()
