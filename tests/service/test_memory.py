"""The allocator settings of service.memory take effect on this platform (glibc on Linux)."""

from __future__ import annotations

import sys
import time

import pytest

from analytics.dashboard.cache import StaleWhileRevalidate
from service.memory import Trimmer, give_back, limit_arenas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_arena_cap_is_taken_and_trimming_runs_until_stopped() -> None:
    assert limit_arenas() is True
    give_back()
    trimmer = Trimmer(interval=0.01).start()
    time.sleep(0.05)
    trimmer.stop()
    trimmer._thread.join(timeout=2)
    assert not trimmer._thread.is_alive()


def test_cached_bundles_are_kept_compressed_and_served_unchanged() -> None:
    cache = StaleWhileRevalidate()
    bundle = '{"title":"窗口服务满意度","data":[' + ",".join(["1.25"] * 20_000) + "]}"
    assert cache.get("k", lambda: bundle) == bundle
    assert cache.get("k", lambda: "recomputed") == bundle  # a hit, decompressed
    stored = cache._data["k"].packed
    assert len(stored) < len(bundle.encode()) / 10
