"""polypnet.inference.pipeline: stages in threads keep order, overlap, and hand errors back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from polypnet.inference.pipeline import Consumer, StageClock, run_ahead


def test_run_ahead_yields_in_order_from_another_thread() -> None:
    threads = set()

    def produce() -> Iterator[int]:
        for i in range(20):
            threads.add(threading.get_ident())
            yield i

    assert list(run_ahead(produce(), depth=3)) == list(range(20))
    assert threads and threading.get_ident() not in threads


def test_run_ahead_raises_the_producers_error_after_its_items() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise OSError("decoder broke")

    got = []
    with pytest.raises(OSError, match="decoder broke"):
        for item in run_ahead(produce()):
            got.append(item)
    assert got == [1]


def test_stages_overlap() -> None:
    """Producer and consumer each sleep 50 ms an item: overlapped, 8 items take about 9 x 50 ms, not 16."""

    def produce() -> Iterator[int]:
        for i in range(8):
            time.sleep(0.05)
            yield i

    done = []
    start = time.perf_counter()
    with Consumer(lambda i: (time.sleep(0.05), done.append(i))) as consumer:
        for item in run_ahead(produce()):
            consumer.submit(item)
    assert done == list(range(8))
    assert time.perf_counter() - start < 0.7  # serial: 0.8 s


def test_consumer_raises_its_error_at_close() -> None:
    def work(i: int) -> None:
        if i == 2:
            raise ValueError("encoder broke")

    consumer = Consumer(work)
    for i in range(4):
        try:
            consumer.submit(i)
        except ValueError:
            break
    with pytest.raises(ValueError, match="encoder broke"):
        consumer.close()


def test_stage_clock_sums_per_stage() -> None:
    clock = StageClock()
    assert clock.timed("a", lambda x: x + 1, 1) == 2
    clock.add("a", 1.0)
    clock.add("b", 0.5)
    assert clock.seconds["a"] >= 1.0 and clock.seconds["b"] == 0.5


def test_leaving_early_waits_for_the_producer_to_stop() -> None:
    produced = []

    def produce() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    for item in run_ahead(produce(), depth=2):
        if item == 3:
            break
    count = len(produced)
    time.sleep(0.05)
    assert len(produced) == count < 10  # stopped, and not running on behind the caller's back
