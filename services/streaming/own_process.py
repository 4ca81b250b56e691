"""The consumer in a process of its own, for a stream that runs beside the batch stages.

In one process the consumer's micro-batches queued behind the lakehouse's Spark jobs on the
shared session (and its GIL): the stream's arrival -> visible p99 reached 35 s beside them,
against under 5 s alone. A child process has its own Spark driver and JVM, which the operating
system schedules beside the batch stages' instead of after them. It is ready once that driver is
up and has run a micro-batch's work once, so a producer started after `start()` is not measured
against the JVM's start-up.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
from collections.abc import Callable
from typing import Any

from services.platform.settings import Settings
from services.streaming.consumer import BatchResult, ConsumeResult

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 300.0  # a JVM start on a loaded machine, with room to spare
POLL_SECONDS = 1.0


class ConsumerProcessError(RuntimeError):
    pass


class ConsumerProcess:
    """`start()` spawns the consumer and returns once its Spark session is up; `wait()` relays
    each micro-batch to `on_batch` and returns the run's result once the stream is drained."""

    def __init__(self, settings: Settings, not_before_seconds: float) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process holding a JVM or threads
        self._messages = context.Queue()
        self._process = context.Process(
            target=_consume_in_child,
            args=(settings, not_before_seconds, self._messages, os.getpid()),
            name="stream-consumer",
            daemon=True,
        )

    def start(self) -> ConsumerProcess:
        self._process.start()
        kind, value = self._next(timeout=READY_TIMEOUT_SECONDS)
        if kind != "ready":
            raise ConsumerProcessError(f"the stream consumer did not start: {value}")
        return self

    def wait(self, on_batch: Callable[[BatchResult], None] = lambda batch: None) -> ConsumeResult:
        while True:
            kind, value = self._next(timeout=None)
            if kind == "batch":
                on_batch(value)
            elif kind == "done":
                self._process.join()
                return value
            else:
                raise ConsumerProcessError(f"the stream consumer failed: {value}")

    def stop(self) -> None:
        """End the child now: what it committed stays, exactly once."""
        self._process.terminate()
        self._process.join()

    def _next(self, timeout: float | None) -> tuple[str, Any]:
        waited = 0.0
        while timeout is None or waited < timeout:
            try:
                return self._messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                waited += POLL_SECONDS
                if not self._process.is_alive():
                    return "error", f"its process exited with code {self._process.exitcode} without a word"
        self.stop()
        return "error", f"its Spark session was not up after {timeout:.0f} s"


def _consume_in_child(settings: Settings, not_before_seconds: float, messages: Any, parent: int) -> None:
    from services.platform.logs import configure_logging
    from services.streaming.stage import stream_consumer

    configure_logging()
    try:
        consumer = stream_consumer(settings, quick_start=True)  # small micro-batches: C1 code starts fastest
        consumer.warm_up()
        messages.put(("ready", None))
        result = consumer.run(
            until_idle=True,
            stop=lambda: os.getppid() != parent,  # the flow's process is gone: stop after this batch
            on_batch=lambda batch: messages.put(("batch", batch)),
            not_before_seconds=not_before_seconds,
        )
        messages.put(("done", result))
    except BaseException as error:
        log.exception("stream consumer failed")
        messages.put(("error", f"{type(error).__name__}: {error}"))
        raise
