"""The schedule runner: fires the scheduled functions of live apps, with no client attached.

Each scheduled function (`@app.function(schedule=modal.Cron(...) | modal.Period(...))` of an
app that is deployed, or running under `modal run`) fires at its next fire time as an ordinary
durable call (`CallService.spawn`), so retries, timeouts, logs and the call history apply.

Durability: the store keeps, per function, the anchor of its period (when it was first
scheduled) and the time it last fired. A firing is recorded (compare-and-set on the previous
fire time) before the call is made, so a tick never fires twice, across restarts included; a
crash between the two loses that one run rather than doubling it. The next due time is computed
from the last fire time, so runs missed while the server was down collapse into one run on
start-up.

Jitter: every schedule due in a pass fires together: one transaction claims them all (the
fire time recorded is the moment of that claim), one transaction persists all their calls,
and each pool gets its input in one submit. Planning the next due times and logging come after,
off the time-critical path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import cloudpickle

from modal.schedule import Schedule, next_fire
from nodal.proto import api_pb2
from nodal.server.errors import ApiError
from nodal.store.metadata import MetadataStore

log = logging.getLogger("nodal.schedules")

LIVE_STATES = (api_pb2.APP_STATE_EPHEMERAL, api_pb2.APP_STATE_DETACHED, api_pb2.APP_STATE_DEPLOYED)
MAX_SLEEP = 1.0  # re-check at least this often (wall-clock jumps, missed wake-ups)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def next_due(schedule: Schedule | str, anchor: float, last_fire: float | None) -> float:
    """When a schedule next fires (epoch seconds): the first fire time after its last firing, or
    after its anchor if it never fired. A Period counts from the anchor, so its runs keep to
    `anchor + k * period` (calendar semantics) whenever they actually ran."""
    after = anchor if last_fire is None else max(anchor, last_fire)
    return next_fire(schedule, _dt(after), start=_dt(anchor)).timestamp()


_NO_ARGS = cloudpickle.dumps(((), {}))


def empty_input() -> api_pb2.Input:
    return api_pb2.Input(idx=0, args=api_pb2.Payload(data=_NO_ARGS))


# [(function id, input)] -> per request, its call id or the ApiError that stopped it
SpawnEach = Callable[[list[tuple[str, api_pb2.Input]]], list["str | ApiError"]]


@dataclass
class Entry:
    function_id: str
    tag: str
    schedule: Schedule
    anchor: float
    last_fire: float | None
    due: float


class ScheduleRunner:
    """Keeps the table of live scheduled functions and fires each when due.

    `spawn` is `CallService.spawn`, `spawn_each` `CallService.spawn_each` (spawns for several
    functions in one go; without it, `spawn` is called once per function); `clock` returns epoch
    seconds (a fake one in unit tests)."""

    def __init__(
        self,
        store: MetadataStore,
        spawn: Callable[[api_pb2.CallSpawnRequest], list[str]],
        clock: Callable[[], float] = time.time,
        spawn_each: SpawnEach | None = None,
    ) -> None:
        self.store = store
        self.spawn = spawn
        self.spawn_each = spawn_each or self._spawn_one_by_one
        self.clock = clock
        self.entries: dict[str, Entry] = {}
        self._dirty = True
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    # ---------- wiring ----------
    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def apps_changed(self) -> None:
        """An app was published or stopped: reload the table and re-plan now."""
        self._dirty = True
        if self._wake is not None:
            self._wake.set()

    # ---------- the loop ----------
    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                delay = self.run_due()
            except Exception:  # never let one bad row stop every schedule
                log.exception("schedule runner pass failed")
                self._dirty = True
                delay = MAX_SLEEP
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    def run_due(self) -> float:
        """Fire everything due now; return how long to sleep until the next due time (bounded)."""
        if self._dirty:
            self.reload()
        now = self.clock()
        due = [e for e in self.entries.values() if e.due <= now]
        if due:
            self._fire(due)
        if not self.entries:
            return MAX_SLEEP
        earliest = min(e.due for e in self.entries.values())
        return min(MAX_SLEEP, max(0.0, earliest - self.clock()))

    def reload(self) -> None:
        self._dirty = False
        now = self.clock()
        seen: dict[str, Entry] = {}
        for app in self.store.list_apps():
            if app.state not in LIVE_STATES:
                continue
            for rec in self.store.list_functions(app.app_id):
                d = api_pb2.FunctionDef.FromString(rec.definition)
                if not d.schedule_json or d.is_class:
                    continue
                entry = self.entries.get(rec.function_id)
                if entry is None:
                    try:
                        schedule = Schedule.from_json(d.schedule_json)
                    except Exception as exc:
                        log.warning("function %s has an invalid schedule: %s", rec.function_id, exc)
                        continue
                    anchor, last_fire = self.store.schedule_state(rec.function_id, now)
                    entry = Entry(
                        rec.function_id,
                        d.tag,
                        schedule,
                        anchor,
                        last_fire,
                        next_due(schedule, anchor, last_fire),
                    )
                seen[rec.function_id] = entry
        self.entries = seen

    def _fire(self, due: list[Entry]) -> None:
        """Fire every entry in `due`: claim them all (compare-and-set, and only while the app is
        live) in one transaction, then make all their calls in one batch."""
        now = self.clock()  # the claim is the firing: this is the time recorded for each
        claimed = set(self.store.claim_schedule_fires(
            [(e.function_id, e.last_fire) for e in due], now, tuple(LIVE_STATES)))
        fired = [e for e in due if e.function_id in claimed]
        results = self.spawn_each([(e.function_id, empty_input()) for e in fired]) if fired else []
        # Off the time-critical path: plan the next runs, deal with the ones not claimed, log.
        for entry, result in zip(fired, results):
            entry.last_fire = now
            entry.due = next_due(entry.schedule, entry.anchor, now)
            if isinstance(result, ApiError):  # e.g. the app stopped meanwhile: drop it at the next reload
                log.warning("scheduled run of %s (%s) not started: %s", entry.tag, entry.function_id, result.message)
                self._dirty = True
        if fired:
            log.info("scheduled runs of %d function(s): %s", len(fired), ", ".join(e.tag for e in fired))
        for entry in due:
            if entry.function_id in claimed:
                continue
            anchor, last_fire = self.store.schedule_state(entry.function_id, now)
            if last_fire == entry.last_fire:  # not fired elsewhere: its app stopped since the last reload
                self._dirty = True
                self.entries.pop(entry.function_id, None)
                continue
            # Fired elsewhere already: take the recorded state and plan from it.
            entry.anchor, entry.last_fire = anchor, last_fire
            entry.due = next_due(entry.schedule, entry.anchor, entry.last_fire)

    def _spawn_one_by_one(self, requests: list[tuple[str, api_pb2.Input]]) -> list[str | ApiError]:
        results: list[str | ApiError] = []
        for function_id, inp in requests:
            try:
                results.extend(self.spawn(api_pb2.CallSpawnRequest(function_id=function_id, input=inp)))
            except ApiError as err:
                results.append(err)
        return results
