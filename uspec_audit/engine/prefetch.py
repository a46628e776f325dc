"""Read, decode and perturb batches on a background thread, ahead of inference.

The queue is bounded, so memory stays bounded by (queue size x batch size)
however large the dataset is. Errors in the producer are re-raised in the
consumer; the consumer stopping early (an error, Ctrl-C) stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(source: Callable[[], Iterator[T]], depth: int = 3) -> Iterator[T]:
    """Iterate over ``source()`` with the production running ``depth`` items ahead on a thread."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source():
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as error:  # forwarded to the consumer
            items.put(error)

    thread = threading.Thread(target=produce, name="uspec-audit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
