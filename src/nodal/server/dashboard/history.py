"""Finished function inputs as the dashboard shows them: outcomes, latencies, per-minute counts.

The control plane keeps no per-input history for streamed calls (`.remote()`, `.map()`): their
results go straight to the caller. The dashboard observes every finished input instead and keeps,
per function, the newest RECENT_PER_FUNCTION inputs and BUCKET_MINUTES per-minute buckets in
memory, so a server that ran millions of calls still answers a page in microseconds.

With a metadata store, the history also outlives the server: finished inputs are buffered and
written in one transaction every FLUSH_SECONDS (at most STORED_PER_FLUSH inputs per function
per flush, so a function finishing thousands of inputs a second costs a bounded write; minute
counts and totals stay exact), and a function's history is read back the first time it is
needed after a start. The store keeps the newest RECENT_PER_FUNCTION inputs of each function
(none older than KEEP_DAYS) and KEEP_DAYS of minute counts. A crash loses at most the last
FLUSH_SECONDS.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field

from nodal.proto import api_pb2

log = logging.getLogger("nodal.dashboard")

RECENT_PER_FUNCTION = 1000
FLUSH_SECONDS = 1.0
DRAIN_SECONDS = 0.2  # recorded inputs are folded into the history in batches this often (and before reads)
STORED_PER_FLUSH = 250  # input rows per function per flush (the rest are counted, not stored)
KEEP_DAYS = 30
TRIM_SECONDS = 60.0
BUCKET_MINUTES = 60
MAX_FUNCTIONS = 10_000  # functions tracked at once; the least recently active are forgotten
MAX_CALLS_INDEXED = 20_000  # call id -> function, for the call page (older calls: from the store)
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
    def __init__(self, store=None) -> None:
        """`store`: the metadata store to persist into and read back from (None: memory only)."""
        self.store = store
        self._functions: collections.OrderedDict[str, FunctionHistory] = collections.OrderedDict()
        self._call_function: collections.OrderedDict[str, str] = collections.OrderedDict()  # call id -> function
        # Waiting for the next flush: input rows per function, minute and total increments.
        self._pending_inputs: dict[str, collections.deque] = {}
        self._pending_minutes: dict[tuple[str, int], list] = {}
        self._pending_totals: dict[tuple[str, str], int] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._raw: list[tuple] = []  # recorded, not yet folded in (see _drain)
        self._drain_handle: asyncio.TimerHandle | None = None
        self._touched: set[str] = set()  # functions written since the last trim
        self._last_trim = time.monotonic()

    # ---------- reading back ----------
    def _track(self, function_id: str, create: bool) -> FunctionHistory | None:
        """The in-memory history of a function, read back from the store on first use."""
        h = self._functions.get(function_id)
        if h is not None:
            self._functions.move_to_end(function_id)
            return h
        h = self._load(function_id)
        if h is None and not create:
            return None
        h = h or FunctionHistory()
        self._functions[function_id] = h
        if len(self._functions) > MAX_FUNCTIONS:  # forget the function used longest ago
            self._functions.popitem(last=False)
        return h

    def _load(self, function_id: str) -> FunctionHistory | None:
        if self.store is None:
            return None
        try:
            if function_id in self._pending_inputs or any(k[0] == function_id for k in self._pending_totals):
                self.flush()  # so what is read back includes everything recorded so far
            totals = self.store.history_totals(function_id)
            if not totals:
                return None
            rows = self.store.history_recent(function_id, RECENT_PER_FUNCTION)
            minutes = self.store.history_minutes(function_id, int(time.time() // 60) - BUCKET_MINUTES + 1)
        except Exception:  # noqa: BLE001 - a store without history support, or a failing one: memory only
            self._store_failed("read")
            return None
        h = FunctionHistory()
        h.totals = dict(totals)
        for r in reversed(rows):
            h.recent.append(InputRecord(*r))
            self._index_call(r[1], function_id)
        for minute, calls, failures, latency_sum, latency_n in minutes:
            h.buckets.append(Bucket(int(minute), int(calls), int(failures), float(latency_sum), int(latency_n)))
        return h

    def _store_failed(self, what: str) -> None:
        log.warning("dashboard call history: could not %s the metadata store; keeping it in memory only",
                    what, exc_info=True)
        self.store = None
        self._pending_inputs.clear()
        self._pending_minutes.clear()
        self._pending_totals.clear()

    def _index_call(self, call_id: str, function_id: str) -> None:
        index = self._call_function
        if call_id not in index:
            index[call_id] = function_id
            if len(index) > MAX_CALLS_INDEXED:
                index.popitem(last=False)

    # ---------- recording ----------
    def record(self, function_id: str, input_id: str, call_id: str, container_id: str, status: int,
               duration: float | None, exception: str = "", traceback: str = "",
               now: float | None = None) -> None:
        """Note one finished input of `function_id` (a base function id, never a bound one).
        On the call path for every input: one list append. The inputs are folded into the
        history in batches (`_drain`), before any read and every DRAIN_SECONDS."""
        self._raw.append((function_id, input_id, call_id, container_id, status, duration, exception, traceback,
                          time.time() if now is None else now))
        if self._drain_handle is None:
            try:
                self._drain_handle = asyncio.get_running_loop().call_later(DRAIN_SECONDS, self._drain_tick)
            except RuntimeError:
                pass  # no event loop (a script or a unit test): reads drain

    def _drain_tick(self) -> None:
        self._drain_handle = None
        self._drain()

    def _drain(self) -> None:
        """Fold the inputs recorded since the last drain into the history, a function at a time:
        a batch of a big map is one call id, one minute or two, and only its newest
        RECENT_PER_FUNCTION inputs are kept as records."""
        if not self._raw:
            return
        raw, self._raw = self._raw, []
        by_function: dict[str, list[tuple]] = {}
        for row in raw:
            rows = by_function.get(row[0])
            if rows is None:
                rows = by_function[row[0]] = []
            rows.append(row)
        for function_id, rows in by_function.items():
            self._fold(function_id, rows)

    def _fold(self, function_id: str, rows: list[tuple]) -> None:
        h = self._track(function_id, create=True)
        for call_id in dict.fromkeys(row[2] for row in rows):
            self._index_call(call_id, function_id)
        kept = [self._input_record(row) for row in rows[-RECENT_PER_FUNCTION:]]
        h.recent.extend(kept)
        totals = h.totals
        counts = collections.Counter(row[4] for row in rows)
        for status, n in counts.items():
            name = STATUS_NAMES.get(status, "unknown")
            totals[name] = totals.get(name, 0) + n
        minutes: dict[int, list] = {}  # minute -> [calls, failures, latency sum, latency n]
        first, last = int(rows[0][8] // 60), int(rows[-1][8] // 60)
        if first == last:  # the usual batch: one minute
            durations = [row[5] for row in rows if row[5] is not None]
            minutes[first] = [len(rows), len(rows) - counts.get(_SUCCESS, 0), sum(durations), len(durations)]
        else:
            for row in rows:
                m = minutes.get(int(row[8] // 60))
                if m is None:
                    m = minutes[int(row[8] // 60)] = [0, 0, 0.0, 0]
                m[0] += 1
                if row[4] != _SUCCESS:
                    m[1] += 1
                if row[5] is not None:
                    m[2] += row[5]
                    m[3] += 1
        for minute, (calls, failures, latency_sum, latency_n) in sorted(minutes.items()):
            b = h.buckets[-1] if h.buckets else None
            if b is None or b.minute != minute:
                b = Bucket(minute)
                h.buckets.append(b)
            b.calls += calls
            b.failures += failures
            b.latency_sum += latency_sum
            b.latency_n += latency_n
        if self.store is not None:
            self._pend(function_id, kept[-STORED_PER_FLUSH:], minutes, counts)

    @staticmethod
    def _input_record(row: tuple) -> InputRecord:
        function_id, input_id, call_id, container_id, status, duration, exception, traceback, now = row
        name = STATUS_NAMES.get(status, "unknown")
        if status == _SUCCESS:
            return InputRecord(input_id, call_id, function_id, container_id, name, now, duration)
        return InputRecord(input_id, call_id, function_id, container_id, name, now, duration,
                           exception[:MAX_MESSAGE], traceback[:MAX_MESSAGE])

    def _pend(self, fid: str, records: list[InputRecord], minutes: dict[int, list],
              counts: collections.Counter) -> None:
        """Queue a function's folded inputs for the next flush to the store."""
        rows = self._pending_inputs.get(fid)
        if rows is None:
            rows = self._pending_inputs[fid] = collections.deque(maxlen=STORED_PER_FLUSH)
        rows.extend(records)  # beyond STORED_PER_FLUSH the oldest waiting row gives way
        for minute, (calls, failures, latency_sum, latency_n) in minutes.items():
            m = self._pending_minutes.get((fid, minute))
            if m is None:
                m = self._pending_minutes[(fid, minute)] = [0, 0, 0.0, 0]
            m[0] += calls
            m[1] += failures
            m[2] += latency_sum
            m[3] += latency_n
        for status, n in counts.items():
            key = (fid, STATUS_NAMES.get(status, "unknown"))
            self._pending_totals[key] = self._pending_totals.get(key, 0) + n
        if self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no event loop (a script or a unit test): flush() writes
            self._flush_handle = loop.call_later(FLUSH_SECONDS, self._flush_tick)

    def _flush_tick(self) -> None:
        self._flush_handle = None
        self.flush()
        if self.store is not None and time.monotonic() - self._last_trim >= TRIM_SECONDS:
            self.trim()

    def flush(self) -> None:
        """Write what was recorded since the last flush to the store, in one transaction."""
        self._drain()
        if self.store is None or not self._pending_totals:
            return
        inputs = [(r.input_id, r.call_id, r.function_id, r.container_id, r.status, r.finished_at, r.duration,
                   r.exception, r.traceback)
                  for rows in self._pending_inputs.values() for r in rows]
        minutes = [(fid, minute, m[0], m[1], m[2], m[3]) for (fid, minute), m in self._pending_minutes.items()]
        totals = [(fid, status, n) for (fid, status), n in self._pending_totals.items()]
        self._touched.update(self._pending_inputs)
        self._pending_inputs = {}
        self._pending_minutes = {}
        self._pending_totals = {}
        try:
            self.store.history_append(inputs, minutes, totals)
        except Exception:  # noqa: BLE001 - see _store_failed
            self._store_failed("write")

    def trim(self) -> None:
        """Apply the store's retention (newest RECENT_PER_FUNCTION per function, KEEP_DAYS)."""
        self._last_trim = time.monotonic()
        if self.store is None:
            return
        touched, self._touched = sorted(self._touched), set()
        now = time.time()
        try:
            self.store.history_trim(touched, RECENT_PER_FUNCTION, now - KEEP_DAYS * 86400,
                                    int(now // 60) - KEEP_DAYS * 1440)
        except Exception:  # noqa: BLE001 - see _store_failed
            self._store_failed("trim")

    # ---------- queries ----------
    def get(self, function_id: str) -> FunctionHistory | None:
        self._drain()
        return self._track(function_id, create=False)

    def find_input(self, function_id: str, input_id: str) -> InputRecord | None:
        h = self.get(function_id)
        if h is None:
            return None
        return next((r for r in reversed(h.recent) if r.input_id == input_id), None)

    def find_call(self, call_id: str) -> list[InputRecord]:
        """The recent inputs of one call, oldest first."""
        self._drain()
        function_id = self._call_function.get(call_id)
        h = self.get(function_id) if function_id else None
        found = [r for r in h.recent if r.call_id == call_id] if h is not None else []
        if found or self.store is None:
            return found
        try:  # an older call, or one from before a restart
            self.flush()
            return [InputRecord(*r) for r in self.store.history_call(call_id, RECENT_PER_FUNCTION)]
        except Exception:  # noqa: BLE001 - see _store_failed
            self._store_failed("read")
            return []


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
