import threading

import pytest

from seafloorhmc.utils.background import BackgroundConsumer


@pytest.mark.parametrize("threaded", [True, False])
def test_items_are_consumed_in_put_order(threaded):
    seen, threads = [], set()

    def consume(item):
        seen.append(item)
        threads.add(threading.current_thread().name)

    with BackgroundConsumer(consume, depth=2, threaded=threaded, name="consumer") as consumer:
        for i in range(50):
            consumer.put(i)
    assert seen == list(range(50))
    assert threads == ({"consumer"} if threaded else {threading.current_thread().name})


@pytest.mark.parametrize("threaded", [True, False])
def test_a_consumer_error_surfaces_in_the_producer(threaded):
    seen = []

    def consume(item):
        if item == 3:
            raise KeyError("bad item 3")
        seen.append(item)

    with pytest.raises(KeyError, match="bad item 3"):
        with BackgroundConsumer(consume, depth=1, threaded=threaded) as consumer:
            for i in range(20):
                consumer.put(i)
    assert seen == [0, 1, 2], "nothing after the failing item is consumed"


def test_an_error_in_the_block_stops_the_consumer_and_is_kept():
    release, seen = threading.Event(), []

    def consume(item):
        release.wait(5)
        seen.append(item)

    with pytest.raises(ValueError, match="producer failed"):
        with BackgroundConsumer(consume, depth=4) as consumer:
            for i in range(3):
                consumer.put(i)
            threading.Timer(1.0, release.set).start()  # item 0 finishes after the block has failed
            raise ValueError("producer failed")
    assert seen == [0], "queued items are dropped once the block fails"
