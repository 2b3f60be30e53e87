"""The dashboard's stale-while-revalidate cache, on a fake clock, and the version of its inputs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy import delete
from sqlmodel import Session

from analytics.comments import scoring
from analytics.comments.models import CommentScanMark, CommentSentiment
from analytics.dashboard.cache import StaleWhileRevalidate
from analytics.indicators.lookups import inputs_version
from tests.synthetic import Synthetic, add_responses


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def counter(values: list[str]):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def compute() -> str:
        calls["n"] += 1
        return values[calls["n"] - 1]

    return compute, calls


def test_fresh_values_are_served_from_the_cache() -> None:
    clock = Clock()
    cache = StaleWhileRevalidate(fresh=5, max_age=60, clock=clock)
    compute, calls = counter(["a", "b"])
    assert cache.get("k", compute) == "a"
    clock.now = 4.9
    assert cache.get("k", compute) == "a"
    assert calls["n"] == 1 and (cache.hits, cache.misses) == (1, 1)


def test_stale_values_are_served_while_one_refresh_runs_in_the_background() -> None:
    clock = Clock()
    cache = StaleWhileRevalidate(fresh=5, max_age=60, clock=clock)
    gate = threading.Event()
    seen: list[str] = []

    def slow() -> str:
        gate.wait(5)
        seen.append("refreshed")
        return "new"

    cache.get("k", lambda: "old")
    clock.now = 10
    # Stale: answered at once with the old value; only one refresh however often asked.
    assert cache.get("k", slow) == "old"
    assert cache.get("k", slow) == "old"
    gate.set()
    for _ in range(100):
        if cache.get("k", slow) == "new":
            break
        threading.Event().wait(0.02)
    assert cache.get("k", slow) == "new"
    assert seen == ["refreshed"]


def test_too_old_or_missing_values_are_computed_in_the_request() -> None:
    clock = Clock()
    cache = StaleWhileRevalidate(fresh=5, max_age=60, clock=clock)
    compute, calls = counter(["a", "b"])
    cache.get("k", compute)
    clock.now = 61
    assert cache.get("k", compute) == "b" and calls["n"] == 2


def test_a_failed_refresh_keeps_the_stale_value() -> None:
    clock = Clock()
    cache = StaleWhileRevalidate(fresh=1, max_age=60, clock=clock)
    cache.get("k", lambda: "v")
    clock.now = 2

    def boom() -> str:
        raise RuntimeError("database away")

    assert cache.get("k", boom) == "v"
    for _ in range(50):
        if not cache._refreshing:
            break
        threading.Event().wait(0.02)
    assert cache.get("k", lambda: "w") == "v"  # still stale: a new refresh starts


def test_size_is_bounded_least_recently_used_first_out() -> None:
    cache = StaleWhileRevalidate(size=2, clock=Clock())
    cache.get("a", lambda: "1")
    cache.get("b", lambda: "2")
    cache.get("a", lambda: "x")  # a is used again
    cache.get("c", lambda: "3")  # b goes
    compute, calls = counter(["again"])
    assert cache.get("b", compute) == "again" and calls["n"] == 1
    assert cache.get("a", lambda: "y") == "y"  # a went when b came back


def _settle(cache: StaleWhileRevalidate) -> None:
    for _ in range(100):
        if not cache._refreshing:
            return
        threading.Event().wait(0.02)


def test_unchanged_inputs_are_not_recomputed_until_the_value_is_quiet_seconds_old() -> None:
    clock = Clock()
    cache = StaleWhileRevalidate(fresh=5, quiet=60, max_age=900, clock=clock)
    compute, calls = counter(["a", "b", "c"])
    inputs = {"v": 1, "probes": 0}

    def version() -> int:
        inputs["probes"] += 1
        return inputs["v"]

    assert cache.get("k", compute, version) == "a"
    clock.now = 10
    assert cache.get("k", compute, version) == "a"  # probed: same inputs, no refresh
    clock.now = 12
    assert cache.get("k", compute, version) == "a"  # probed 2 s ago: not even a probe
    assert (calls["n"], inputs["probes"]) == (1, 2)
    # New responses: served stale once while the refresh runs, then the new value.
    inputs["v"] = 2
    clock.now = 20
    assert cache.get("k", compute, version) == "a"
    _settle(cache)
    assert cache.get("k", compute, version) == "b" and calls["n"] == 2
    # Quiet for a minute: refreshed anyway (what the probe does not see shows then).
    clock.now = 20 + 61
    assert cache.get("k", compute, version) == "b"
    _settle(cache)
    assert cache.get("k", compute, version) == "c" and calls["n"] == 3


def test_the_version_is_read_before_computing_so_a_change_meanwhile_is_not_missed() -> None:
    clock = Clock()
    cache = StaleWhileRevalidate(fresh=5, quiet=60, clock=clock)
    inputs = {"v": 1}

    def compute() -> str:
        inputs["v"] += 1  # a response committed while the figures were computed
        return f"seen {inputs['v']}"

    cache.get("k", compute, lambda: inputs["v"])
    clock.now = 6
    assert cache.get("k", compute, lambda: inputs["v"]) == "seen 2"  # stale: refresh starts
    _settle(cache)
    assert cache.get("k", compute, lambda: inputs["v"]) == "seen 3"


def test_background_refreshes_run_one_at_a_time_in_a_process() -> None:
    clock = Clock()
    cache = StaleWhileRevalidate(fresh=1, max_age=60, clock=clock)
    running, most, lock = [0], [0], threading.Lock()

    def slow(value: str) -> Callable[[], str]:
        def compute() -> str:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            threading.Event().wait(0.05)
            with lock:
                running[0] -= 1
            return value

        return compute

    for key in "abc":
        cache.get(key, lambda: "old")
    clock.now = 2
    for key in "abc":  # three stale values: three refreshes, queued
        assert cache.get(key, slow("new")) == "old"
    _settle(cache)
    assert [cache.get(key, slow("again")) for key in "abc"] == ["new"] * 3
    assert most[0] == 1


def test_a_refresh_that_took_t_is_followed_by_a_rest_of_pace_times_t() -> None:
    clock = Clock()
    cache = StaleWhileRevalidate(fresh=1, max_age=60, pace=2.0, clock=clock)
    marks: dict[str, float] = {}

    def busy() -> str:  # 50 ms, in part waiting (for the database, say)
        threading.Event().wait(0.05)
        marks["busy ended"] = time.monotonic()
        return "new"

    def next_one() -> str:
        marks["next started"] = time.monotonic()
        return "new"

    cache.get("a", lambda: "old")
    cache.get("b", lambda: "old")
    clock.now = 2
    cache.get("a", busy)
    cache.get("b", next_one)
    _settle(cache)
    assert marks["next started"] - marks["busy ended"] >= 2.0 * 0.05


def test_inputs_version_moves_with_new_responses_and_with_comments_scored_again(
    app: FastAPI, synthetic: Callable[..., Synthetic]
) -> None:
    engine = app.state.engine
    syn = synthetic(n=60, units=2, areas=1, seed=9, comment_share=0.5, flagged_share=0.0)

    def score() -> None:
        with Session(engine) as s:
            scoring.score_pending(s, campaign_id=syn.campaign_id)
            s.commit()

    score()
    scored = inputs_version(engine, syn.campaign_id)
    assert inputs_version(engine, syn.campaign_id) == scored  # nothing changed
    # `minyi analytics rebuild --rescore`: the scores and the mark go, the views score again
    # and the mark ends where it was, at a later time.
    with Session(engine) as s:
        s.execute(delete(CommentSentiment))
        s.execute(delete(CommentScanMark))
        s.commit()
    score()
    rescored = inputs_version(engine, syn.campaign_id)
    assert rescored != scored and rescored[:3] == scored[:3]
    add_responses(engine, syn, n=5, seed=10, comment_share=0.0)
    assert inputs_version(engine, syn.campaign_id)[0] == rescored[0] + 5
