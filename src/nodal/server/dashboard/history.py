"""Recent function inputs as the dashboard shows them: outcomes, latencies, per-minute counts.

The control plane keeps no per-input history for streamed calls (`.remote()`, `.map()`): their
results go straight to the caller. The dashboard observes every finished input instead, in
memory, bounded per function (the newest RECENT_PER_FUNCTION inputs and BUCKET_MINUTES
per-minute buckets), so a server that ran millions of calls still answers a page in
microseconds. History starts when the server starts; it is a monitor, not an archive.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from nodal.proto import api_pb2

RECENT_PER_FUNCTION = 1000
BUCKET_MINUTES = 60
MAX_FUNCTIONS = 10_000  # functions tracked at once; the least recently active are forgotten
MAX_CALLS_INDEXED = 200_000  # call id -> function, for the call page
MAX_MESSAGE = 4000  # characters of an exception / traceback kept per failed input

_SUCCESS = api_pb2.RESULT_STATUS_SUCCESS
STATUS_NAMES = {
    api_pb2.RESULT_STATUS_SUCCESS: "success",
    api_pb2.RESULT_STATUS_FAILURE: "failure",
    api_pb2.RESULT_STATUS_TIMEOUT: "timeout",
    api_pb2.RESULT_STATUS_TERMINATED: "terminated",
    api_pb2.RESULT_STATUS_INIT_FAILURE: "init failure",
    api_pb2.RESULT_STATUS_INTERNAL_FAILURE: "internal failure",
}


@dataclass(slots=True)
class InputRecord:
    """One finished input."""

    input_id: str
    call_id: str
    function_id: str
    container_id: str
    status: str
    finished_at: float  # wall clock
    duration: float | None  # seconds in its container (None: it never started)
    exception: str = ""
    traceback: str = ""


@dataclass
class Bucket:
    minute: int  # unix time // 60
    calls: int = 0
    failures: int = 0
    latency_sum: float = 0.0
    latency_n: int = 0


@dataclass
class FunctionHistory:
    recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=RECENT_PER_FUNCTION))
    buckets: collections.deque = field(default_factory=lambda: collections.deque(maxlen=BUCKET_MINUTES))
    totals: dict[str, int] = field(default_factory=dict)  # status name -> count


class CallHistory:
    def __init__(self) -> None:
        self._functions: collections.OrderedDict[str, FunctionHistory] = collections.OrderedDict()
        self._call_function: collections.OrderedDict[str, str] = collections.OrderedDict()  # call id -> function

    def record(self, function_id: str, input_id: str, call_id: str, container_id: str, status: int,
               duration: float | None, exception: str = "", traceback: str = "",
               now: float | None = None) -> None:
        """Note one finished input of `function_id` (a base function id, never a bound one).
        On the call path for every input: a few dict and deque operations, nothing more."""
        now = time.time() if now is None else now
        h = self._functions.get(function_id)
        if h is None:
            h = self._functions[function_id] = FunctionHistory()
            if len(self._functions) > MAX_FUNCTIONS:  # forget the function tracked longest ago
                self._functions.popitem(last=False)
        index = self._call_function
        if call_id not in index:
            index[call_id] = function_id
            if len(index) > MAX_CALLS_INDEXED:
                index.popitem(last=False)
        name = STATUS_NAMES.get(status, "unknown")
        if status == _SUCCESS:
            failed = 0
            h.recent.append(InputRecord(input_id, call_id, function_id, container_id, name, now, duration))
        else:
            failed = 1
            h.recent.append(InputRecord(input_id, call_id, function_id, container_id, name, now, duration,
                                        exception[:MAX_MESSAGE], traceback[:MAX_MESSAGE]))
        totals = h.totals
        totals[name] = totals.get(name, 0) + 1
        minute = int(now // 60)
        b = h.buckets[-1] if h.buckets else None
        if b is None or b.minute != minute:
            b = Bucket(minute)
            h.buckets.append(b)
        b.calls += 1
        b.failures += failed
        if duration is not None:
            b.latency_sum += duration
            b.latency_n += 1

    def get(self, function_id: str) -> FunctionHistory | None:
        return self._functions.get(function_id)

    def find_input(self, function_id: str, input_id: str) -> InputRecord | None:
        h = self._functions.get(function_id)
        if h is None:
            return None
        return next((r for r in reversed(h.recent) if r.input_id == input_id), None)


    def find_call(self, call_id: str) -> list[InputRecord]:
        """The recent inputs of one call, oldest first."""
        h = self._functions.get(self._call_function.get(call_id, ""))
        return [r for r in h.recent if r.call_id == call_id] if h is not None else []


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of already sorted values by nearest rank; None when there are none."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[rank]


def per_minute(h: FunctionHistory | None, minutes: int, now: float | None = None) -> list[Bucket]:
    """The last `minutes` minutes, oldest first, with empty buckets for quiet minutes."""
    now = time.time() if now is None else now
    last = int(now // 60)
    have = {b.minute: b for b in h.buckets} if h is not None else {}
    return [have.get(m) or Bucket(m) for m in range(last - minutes + 1, last + 1)]


def observe(scheduler, history: CallHistory) -> None:
    """Record every input the scheduler finishes into `history` (through its input observers)."""

    def observed(pool, pin, result) -> None:
        duration = (time.monotonic() - pin.started_at) if pin.started_at else None
        history.record(pool.function_id, pin.input_id, pin.call.call_id, pin.container_id, result.status,
                       duration, result.exception, result.traceback)

    scheduler.input_observers.append(observed)
