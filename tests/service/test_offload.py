"""The child process that runs calls for an app process (service/offload.py): its answers,
its errors, its priority, and what happens when it dies, hangs or idles."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from service.offload import Offload, OffloadError


def nice_and_pid() -> tuple[int, int]:
    return os.nice(0), os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


class Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickles as Unpicklable(msg): fails to load
        super().__init__(f"{a}/{b}")


def fail_oddly() -> None:
    raise Unpicklable(1, 2)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def offload() -> Offload:
    o = Offload(idle=60, timeout=30, name="test")
    yield o
    o.close()


def test_calls_run_in_one_niced_child_that_is_reused(offload: Offload) -> None:
    first_nice, first_pid = offload.call(nice_and_pid)
    assert first_pid != os.getpid()
    assert first_nice == min(19, os.nice(0) + 10)  # 19 is the lowest priority
    assert offload.call(nice_and_pid)[1] == first_pid == offload.pid
    assert (offload.calls, offload.starts) == (2, 1)


def test_errors_come_back_as_raised_and_the_child_goes_on(offload: Offload) -> None:
    with pytest.raises(ValueError, match="no such unit"):
        offload.call(fail, "no such unit")
    with pytest.raises(OffloadError, match="answer"):
        offload.call(fail_oddly)
    pid = offload.pid
    assert offload.call(sleep, 0) == 0 and offload.pid == pid and offload.starts == 1


def test_a_child_killed_mid_call_fails_that_call_and_the_next_starts_another(
    offload: Offload,
) -> None:
    _, pid = offload.call(nice_and_pid)
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(OffloadError, match="stopped|died"):
        offload.call(sleep, 30)
    _, pid2 = offload.call(nice_and_pid)
    assert pid2 != pid and offload.starts == 2
    os.kill(pid2, signal.SIGKILL)  # between calls: the next call just starts another
    time.sleep(0.2)
    assert offload.call(nice_and_pid)[1] not in (pid, pid2)


def test_a_call_past_the_timeout_kills_the_child() -> None:
    o = Offload(idle=60, timeout=0.5, name="test")
    try:
        _, pid = o.call(nice_and_pid)
        with pytest.raises(OffloadError, match="no answer"):
            o.call(sleep, 30)
        assert not alive(pid)  # gone, not left computing
        assert o.call(sleep, 0) == 0
    finally:
        o.close()


def test_an_idle_child_stops_and_a_later_call_starts_it_again() -> None:
    o = Offload(idle=0.5, timeout=30, name="test")
    try:
        _, pid = o.call(nice_and_pid)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert o.pid is None and not alive(pid)
        assert o.call(nice_and_pid)[1] != pid
    finally:
        o.close()
