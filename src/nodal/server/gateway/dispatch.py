"""Choosing a container for a web request: the autoscaler's view of web traffic.

A request takes one unit of a ready container's capacity (`@modal.concurrent(max_inputs=)`,
default 1) for as long as it runs. Requests that find no free capacity count as waiting
demand on the pool, which makes the scheduler start containers (from zero too); they wait
for a container to become ready or a request to finish. Containers go back to zero after the
pool's scaledown window, like for any function.
"""

from __future__ import annotations

import asyncio
import time

from nodal.server.pool import ContainerSlot, Pool
from nodal.server.scheduler import Scheduler

MAX_FAILED_STARTS = 2  # containers that died before ready while one request waited: give up


class NoContainer(Exception):
    """No container could take the request (startup failed or the wait ran out)."""


class WebDispatcher:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self._changed: dict[str, asyncio.Event] = {}
        scheduler.on_pool_changed = self.pool_changed

    def pool_changed(self, pool: Pool) -> None:
        """A container became ready or left: waiting requests look again."""
        event = self._changed.get(pool.key)
        if event is not None:
            event.set()

    @staticmethod
    def _free_slot(pool: Pool) -> ContainerSlot | None:
        best = None
        cap = pool.capacity
        max_inputs = pool.definition.max_inputs  # requests a container serves before it is replaced
        for slot in pool.containers.values():
            if slot.state != "ready" or slot.web_active >= cap or (max_inputs and slot.assigned >= max_inputs):
                continue
            if best is None or slot.web_active < best.web_active:
                best = slot
        if best is not None:
            best.web_active += 1
            best.assigned += 1
        return best

    async def acquire(self, pool: Pool, timeout: float) -> ContainerSlot:
        slot = self._free_slot(pool)
        if slot is not None:
            return slot
        deadline = time.monotonic() + timeout
        event = self._changed.setdefault(pool.key, asyncio.Event())
        pool.web_waiting += 1
        failed_before = pool.failed_starts
        try:
            self.scheduler.kick(pool)
            while True:
                if pool.stopped:
                    raise NoContainer("the app was stopped")
                slot = self._free_slot(pool)
                if slot is not None:
                    return slot
                if pool.failed_starts - failed_before >= MAX_FAILED_STARTS:
                    raise NoContainer("the endpoint's container exited before it was ready; see `modal app logs`")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise NoContainer(f"no container was free within {timeout:g}s")
                event.clear()
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    pass
        finally:
            pool.web_waiting -= 1

    def release(self, pool: Pool, slot: ContainerSlot) -> None:
        slot.web_active -= 1
        if slot.web_active == 0:
            slot.idle_since = time.monotonic()
            max_inputs = pool.definition.max_inputs
            if max_inputs and slot.assigned >= max_inputs and slot.state == "ready" and not slot.inflight:
                self.scheduler._stop_slot(pool, slot)  # served its max_inputs: replaced, as for calls
                self.scheduler.kick(pool)
        if pool.web_waiting:
            self.pool_changed(pool)
