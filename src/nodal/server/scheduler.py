"""The scheduler: routes inputs to containers, autoscales pools, handles failures.

Everything here runs on the server's single event loop, so pool state needs no
locks. Containers are placed only through the runtime backend.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable

from nodal.proto import api_pb2
from nodal.runtime.backend import RuntimeBackend
from nodal.runtime.gpus import GpuFit
from nodal.server.calls import Call, PendingInput, failure
from nodal.server.ids import new_id
from nodal.server.pool import ContainerSlot, Pool

log = logging.getLogger("nodal.scheduler")

RETRYABLE = {
    api_pb2.RESULT_STATUS_FAILURE,
    api_pb2.RESULT_STATUS_TIMEOUT,
    api_pb2.RESULT_STATUS_INTERNAL_FAILURE,
}
REAP_INTERVAL = 0.25  # seconds between timeout, idle and scaledown checks
STOP_GRACE = 5.0
CRASH_BACKOFF_MAX = 60.0  # seconds between restarts of a pool whose containers keep failing to start
MAX_STARTING_PER_POOL = max(2, os.cpu_count() or 1)

# Starts a container for a pool: (pool, slot) -> awaitable; raises on failure.
Launcher = Callable[[Pool, ContainerSlot], Awaitable[None]]


def retry_delay(policy: api_pb2.RetryPolicy, attempt: int) -> float:
    """Delay before retry number `attempt` (1-based), as modal.Retries documents."""
    delay = policy.initial_delay * (policy.backoff_coefficient ** (attempt - 1))
    return min(delay, policy.max_delay) if policy.max_delay else delay


GPU_FALLBACK_MODES = ("cpu", "queue")


class Scheduler:
    """`gpu_fallback` says what a function gets when no node has its GPU: "cpu" runs it without
    one (local development, one warning per function); "queue" holds its inputs until a GPU
    appears or the function's timeout passes (a cluster)."""

    def __init__(self, runtime: RuntimeBackend, launcher: Launcher, gpu_fallback: str = "cpu") -> None:
        if gpu_fallback not in GPU_FALLBACK_MODES:
            raise ValueError(f"gpu_fallback must be one of {GPU_FALLBACK_MODES}, not {gpu_fallback!r}")
        self.gpu_fallback = gpu_fallback
        self.on_warning: Callable[[Pool, str], None] = lambda pool, message: None
        self.runtime = runtime
        self.launcher = launcher
        self.pools: dict[str, Pool] = {}
        self.draining: set[Pool] = set()  # pools of replaced versions, finishing what they hold
        self.slots: dict[str, tuple[Pool, ContainerSlot]] = {}
        self.on_call_done: Callable[[Call], None] = lambda call: None
        # Called with (pool, input, result) for every input delivered as final (the dashboard's history).
        self.input_observers: list[Callable[[Pool, PendingInput, api_pb2.Result], None]] = []
        self.on_pool_low: Callable[[Pool], None] = lambda pool: None  # load parked spawned calls
        self.on_pool_changed: Callable[[Pool], None] = lambda pool: None  # a container got ready or left (web)
        self._reaper: asyncio.Task | None = None

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_loop())

    async def shutdown(self) -> None:
        if self._reaper:
            self._reaper.cancel()
        for pool in [*self.pools.values(), *self.draining]:
            # Spawned calls stay pending in the store: the next server re-queues them.
            await self.stop_pool(pool, "the Nodal server shut down while this input was waiting or running",
                                 keep_durable=True, status=api_pb2.RESULT_STATUS_INTERNAL_FAILURE)

    # ---------- inputs ----------
    def submit(self, pool: Pool, inputs: list[PendingInput]) -> None:
        for pin in inputs:
            pin.call.open_inputs.add(pin.input_id)
        pool.pending.extend(inputs)
        self._run_kick(pool)  # at once: inputs arrive in batches already, and latency counts here

    def kick(self, pool: Pool) -> None:
        """Dispatch and autoscale once per loop tick, however many events asked for it."""
        if not pool.kick_scheduled:
            pool.kick_scheduled = True
            asyncio.get_running_loop().call_soon(self._run_kick, pool)

    def _run_kick(self, pool: Pool) -> None:
        pool.kick_scheduled = False
        if pool.stopped:
            return
        if pool.parked:
            self.on_pool_low(pool)
        self._dispatch(pool)
        self._autoscale(pool)

    def _dispatch(self, pool: Pool) -> None:
        ready = [c for c in pool.containers.values() if c.state == "ready"]
        if not ready or not pool.pending:
            return
        now = time.monotonic()
        for slot in sorted(ready, key=lambda c: len(c.inflight)):
            free = pool.window(slot, len(ready)) - len(slot.inflight)
            batch = []
            while free > 0 and pool.pending:
                pin = pool.pending.popleft()
                if pin.cancelled:
                    continue
                pin.container_id = slot.container_id
                pin.started_at = now
                slot.inflight[pin.input_id] = pin
                slot.assigned += 1
                batch.append(
                    api_pb2.WorkerInput(input_id=pin.input_id, call_id=pin.call.call_id, input=pin.input)
                )
                free -= 1
            if batch:
                slot.send.put_nowait(api_pb2.WorkerDirective(inputs=api_pb2.WorkerInputs(inputs=batch)))
            if not pool.pending:
                break

    def _autoscale(self, pool: Pool) -> None:
        live = pool.live_containers()
        want = pool.desired_containers()
        if not pool.pending and not pool.web_waiting and time.monotonic() < pool.crash_backoff_until:
            want = len(live)  # warm containers keep failing to start: wait before the next try
        cpu_each = pool.definition.cpu or 0.125
        starting = sum(1 for c in live if c.state == "starting")
        # Start a few at a time: a burst of cold starts on a small host slows every one of them,
        # and ready containers often drain the backlog before more would be up.
        room = max(0, MAX_STARTING_PER_POOL - starting)
        for n in range(min(want - len(live), room)):
            if self.runtime.resources_left().cpu < cpu_each and live:
                break  # the host is full; the backlog waits for a free container
            if pool.gpu_request and not self._gpu_room(pool, live):
                break
            self._start_container(pool, pool.start_reason(len(live) + n))
        self._keep_snapshot(pool)

    def _gpu_room(self, pool: Pool, live: list[ContainerSlot]) -> bool:
        """Whether another container of this GPU pool can start now (or falls back to CPU)."""
        fit = self.runtime.gpu_fit(pool.gpu_request)
        if fit is GpuFit.NOW:
            return True
        if fit is GpuFit.NEVER and self.gpu_fallback == "cpu":
            self.on_warning(
                pool,
                f"Function {pool.name!r} asks for GPU {pool.gpu_request} but this Nodal server has "
                f"{self._installed_gpus()}; running it on CPU instead. (Start the server with "
                "NODAL_GPU_FALLBACK=queue to wait for a GPU instead.)",
            )
            pool.gpu_request = ""
            return True
        if not live and pool.gpu_wait_since is None:
            pool.gpu_wait_since = time.monotonic()
        return False

    # ---------- containers ----------
    def _installed_gpus(self) -> str:
        counts: dict[str, int] = {}
        for used in self.runtime.gpu_inventory():
            counts[used.device.gpu_type] = counts.get(used.device.gpu_type, 0) + 1
        return ", ".join(f"{n} x {t}" for t, n in sorted(counts.items())) or "no GPUs"

    def _start_container(self, pool: Pool, reason: str = "") -> ContainerSlot:
        restored = self._take_snapshot(pool, reason)
        if restored is not None:
            return restored
        take_spare = getattr(self.launcher, "take_spare", None)
        spare = take_spare(pool) if take_spare is not None else None
        if spare is not None:  # booted already: the launcher gives it this function (nodal.server.spares)
            slot = ContainerSlot(container_id=spare.container_id, token=spare.token,
                                 start_reason=f"{reason} (a pre-started container)" if reason else "", spare=spare)
        else:
            slot = ContainerSlot(container_id=new_id("container"), token=secrets.token_hex(16), start_reason=reason)
        if pool.gpu_request:  # taken now, so a second start in this tick cannot take the same GPUs
            self.runtime.reserve_gpus(slot.container_id, pool.gpu_request)
            pool.gpu_wait_since = None
        self._launch_slot(pool, slot)
        return slot

    def _launch_slot(self, pool: Pool, slot: ContainerSlot) -> None:
        pool.containers[slot.container_id] = slot
        self.slots[slot.container_id] = (pool, slot)
        self._time_startup(pool, slot)
        asyncio.get_running_loop().create_task(self._launch(pool, slot))

    def _time_startup(self, pool: Pool, slot: ContainerSlot) -> None:
        """Stop the container if it is not ready (or snapshotted) within the startup timeout."""
        if slot.startup_handle:
            slot.startup_handle.cancel()
        startup = (pool.definition.startup_timeout or pool.timeout) + 60.0
        slot.startup_handle = asyncio.get_running_loop().call_later(startup, self._on_startup_timeout, pool, slot)

    # ---------- memory snapshots ----------
    # enable_memory_snapshot: a function's (or class's) pool keeps one container held
    # pre-initialised (its code imported and @enter(snap=True) run) for its next cold start,
    # which takes it and only runs the other @enter methods. Not for GPU functions (the held
    # container would hold its GPUs), nor for a class's parameter sets and with_options variants
    # (pools "<function id>/<digest>": one idle container each could add up without bound).
    def _keep_snapshot(self, pool: Pool) -> None:
        """Start the pool's snapshot if it has none, once no other container of it is starting
        (a cold start comes first; boots in parallel only slow each other down)."""
        if (not pool.definition.enable_memory_snapshot or pool.gpu_request or pool.snapshot_failed
                or "/" in pool.key or pool.stopped or self.pools.get(pool.key) is not pool):
            return
        if any(c.snapshot and c.state in ("snapshotting", "snapshot") or c.state == "starting"
               for c in pool.containers.values()):
            return
        if self.runtime.resources_left().cpu < (pool.definition.cpu or 0.125):
            return
        slot = ContainerSlot(container_id=new_id("container"), token=secrets.token_hex(16), state="snapshotting",
                             snapshot=True, start_reason="memory snapshot (held for the next cold start)")
        self._launch_slot(pool, slot)

    def _take_snapshot(self, pool: Pool, reason: str) -> ContainerSlot | None:
        """The pool's snapshot, restored for a cold start (None if it has none). One still
        loading is taken too: it is further along than a container started now."""
        held = [c for c in pool.containers.values() if c.snapshot and c.state in ("snapshot", "snapshotting")]
        if not held:
            return None
        slot = min(held, key=lambda c: c.state != "snapshot")
        slot.state = "starting"
        slot.start_reason = f"{reason} (restored from its memory snapshot)" if reason else "restored from its memory snapshot"
        self._time_startup(pool, slot)
        slot.send.put_nowait(api_pb2.WorkerDirective(restore=True))
        return slot

    def worker_snapshotted(self, pool: Pool, slot: ContainerSlot) -> None:
        """The snapshot's code is loaded and @enter(snap=True) has run: it waits to be taken."""
        if slot.state != "snapshotting":
            return  # taken while it loaded: its restore is queued already
        slot.state = "snapshot"
        if slot.startup_handle:
            slot.startup_handle.cancel()
            slot.startup_handle = None

    def _snapshot_lost(self, pool: Pool, slot: ContainerSlot, why: str) -> None:
        """A snapshot failed before anyone took it: the pool's cold starts start afresh from now
        on (a container of their own reports the failure to the inputs, if it repeats)."""
        log.warning("the memory snapshot of %s (container %s) %s; its cold starts will not use one",
                    pool.name, slot.container_id, why)
        pool.snapshot_failed = True

    async def _launch(self, pool: Pool, slot: ContainerSlot) -> None:
        try:
            await self.launcher(pool, slot)
        except Exception as exc:  # noqa: BLE001 - any launch failure fails the waiting inputs
            log.exception("could not start a container for %s", pool.name)
            self.runtime.release_gpus(slot.container_id)
            self._forget_slot(pool, slot)
            self._fail_pending(
                pool, api_pb2.RESULT_STATUS_INTERNAL_FAILURE, f"could not start a container: {exc}"
            )

    def worker_attached(self, container_id: str, token: str) -> tuple[Pool, ContainerSlot] | None:
        found = self.slots.get(container_id)
        if found is None or not secrets.compare_digest(found[1].token, token):
            return None
        return found

    def worker_ready(self, pool: Pool, slot: ContainerSlot) -> None:
        if slot.state != "starting":
            return
        slot.state = "ready"
        slot.idle_since = time.monotonic()
        pool.start_failures, pool.crash_backoff_until = 0, 0.0
        if slot.startup_handle:
            slot.startup_handle.cancel()
        self.kick(pool)
        self.on_pool_changed(pool)

    def _start_failed(self, pool: Pool) -> None:
        """A container ended before it was ready: back off (1 s doubling to a minute) before
        starting another one only to keep min/buffer containers, so a broken image or @enter
        does not restart in a tight loop. Inputs still get a container at once (and fail fast)."""
        pool.failed_starts += 1  # waiting web requests give up after a few (nodal.server.gateway)
        pool.start_failures += 1
        delay = min(CRASH_BACKOFF_MAX, 2.0 ** (pool.start_failures - 1))
        pool.crash_backoff_until = time.monotonic() + delay

    def worker_init_failed(self, pool: Pool, slot: ContainerSlot, result: api_pb2.Result) -> None:
        """@enter or the import failed: fail what is queued instead of restarting in a loop."""
        if slot.snapshot:
            self._snapshot_lost(pool, slot, f"failed to load: {result.exception}")
            if slot.state in ("snapshotting", "snapshot"):  # not taken: no input waits on it
                self._stop_slot(pool, slot)
                self.kick(pool)
                return
        log.info("container %s of %s failed to start: %s", slot.container_id, pool.name, result.exception)
        slot.state = "draining"
        self._start_failed(pool)
        for pin in list(slot.inflight.values()):
            self._finish(pool, slot, pin, result)
        while pool.pending:
            pin = pool.pending.popleft()
            self._deliver_final(pool, pin, result)
        self._stop_slot(pool, slot)

    def container_exited(self, container_id: str, code: int) -> None:
        found = self.slots.get(container_id)
        if found is None:
            return
        pool, slot = found
        slot.exited.set()
        # A container whose node died before it was ready did not fail: start another elsewhere.
        was_starting = slot.state == "starting" and not self.runtime.was_lost(container_id)
        if slot.state in ("snapshotting", "snapshot") and not self.runtime.was_lost(container_id):
            self._snapshot_lost(pool, slot, f"exited with code {code}")
        self._forget_slot(pool, slot)
        for pin in list(slot.inflight.values()):
            message = f"container {container_id} exited (code {code}) while running this input"
            self._finish(pool, slot, pin, failure(api_pb2.RESULT_STATUS_INTERNAL_FAILURE, message))
        if was_starting:
            self._start_failed(pool)
            self._fail_pending(
                pool,
                api_pb2.RESULT_STATUS_INIT_FAILURE,
                f"container {container_id} exited with code {code} before it was ready; see `modal app logs`",
            )
        self.kick(pool)
        self.on_pool_changed(pool)
        if pool.gpu_request:
            self.gpus_released()

    def gpus_released(self) -> None:
        """GPUs became free (a container or sandbox ended): pools waiting for one may start now."""
        for pool in self.pools.values():
            if pool.gpu_request and pool.pending:
                self.kick(pool)

    def _forget_slot(self, pool: Pool, slot: ContainerSlot) -> None:
        if slot.startup_handle:
            slot.startup_handle.cancel()
        pool.containers.pop(slot.container_id, None)
        self.slots.pop(slot.container_id, None)
        if slot.state != "stopped":
            slot.state = "stopped"
            slot.send.put_nowait(None)

    def _stop_slot(self, pool: Pool, slot: ContainerSlot, grace: float = STOP_GRACE) -> None:
        """Ask the worker to run @exit and leave, then make sure the container is gone."""
        if slot.state == "stopped":
            return
        slot.state = "draining"
        slot.send.put_nowait(api_pb2.WorkerDirective(shutdown=True))
        loop = asyncio.get_running_loop()
        if grace <= 0:
            loop.create_task(self.runtime.stop(slot.container_id, 0.0))
        else:
            loop.create_task(self._stop_after(slot, grace))

    async def _stop_after(self, slot: ContainerSlot, grace: float) -> None:
        """Give the worker `grace` seconds to run @exit and leave by itself, then stop the container."""
        try:
            await asyncio.wait_for(slot.exited.wait(), grace)
        except TimeoutError:
            await self.runtime.stop(slot.container_id, 1.0)

    def _fail_pending(self, pool: Pool, status: int, message: str) -> None:
        if pool.live_containers():
            return  # another container may still serve them
        while pool.pending:
            pin = pool.pending.popleft()
            self._deliver_final(pool, pin, failure(status, message))

    def _on_startup_timeout(self, pool: Pool, slot: ContainerSlot) -> None:
        if slot.state == "snapshotting":
            self._snapshot_lost(pool, slot, "did not load within the startup timeout")
        if slot.state in ("starting", "snapshotting"):
            log.warning("container %s did not become ready in time", slot.container_id)
            self._stop_slot(pool, slot, grace=0.5)

    # ---------- outputs ----------
    def worker_outputs(self, pool: Pool, slot: ContainerSlot, outputs: list[api_pb2.Output]) -> None:
        now = time.monotonic()
        for out in outputs:
            pin = slot.inflight.get(out.input_id)
            if pin is None:
                continue  # already timed out or cancelled
            if out.result.gen_item:
                pin.gen_items += 1
                if not pin.cancelled:
                    pin.call.deliver(out)
                continue
            pool.record_runtime(slot, pin.started_at, now)
            self._finish(pool, slot, pin, out.result, out)
        if slot.state == "ready" and pool.definition.max_inputs and slot.assigned >= pool.definition.max_inputs:
            if not slot.inflight:
                self._stop_slot(pool, slot)
        self.kick(pool)

    def _finish(
        self,
        pool: Pool,
        slot: ContainerSlot | None,
        pin: PendingInput,
        result: api_pb2.Result,
        output: api_pb2.Output | None = None,
    ) -> None:
        """An attempt ended: retry it per the policy, or deliver its result (`output`, when the
        worker's own message can be passed on as it is)."""
        if slot is not None:
            slot.inflight.pop(pin.input_id, None)
            slot.handled += 1
            if not slot.inflight:
                slot.idle_since = time.monotonic()
                if slot.state == "ready" and pool.definition.max_inputs and slot.assigned >= pool.definition.max_inputs:
                    self._stop_slot(pool, slot)
        policy = pool.definition.retries
        if (
            result.status in RETRYABLE
            and not pin.cancelled
            and pin.gen_items == 0
            and pin.attempt < policy.max_retries
        ):
            pin.attempt += 1
            pin.container_id = ""
            delay = retry_delay(policy, pin.attempt)
            log.info("retrying input %s (attempt %d) in %.2fs", pin.input_id, pin.attempt, delay)
            pool.retrying[pin.input_id] = pin
            asyncio.get_running_loop().call_later(delay, self._requeue, pool, pin)
            return
        self._deliver_final(pool, pin, result, output)

    def _requeue(self, pool: Pool, pin: PendingInput) -> None:
        if pool.retrying.pop(pin.input_id, None) is None or pin.cancelled or pool.stopped:
            return
        pool.pending.appendleft(pin)
        self.kick(pool)

    def _deliver_final(
        self, pool: Pool, pin: PendingInput, result: api_pb2.Result, output: api_pb2.Output | None = None
    ) -> None:
        call = pin.call
        if pin.cancelled and result.status != api_pb2.RESULT_STATUS_TERMINATED:
            return
        if output is None:
            output = api_pb2.Output(call_id=call.call_id, idx=pin.input.idx, result=result, input_id=pin.input_id)
        if pin.gen_items:
            output.result.gen_count = pin.gen_items
        if pool.definition.is_generator or (pool.generator_methods and pin.input.method_name in pool.generator_methods):
            output.result.gen_done = True
        call.deliver(output)
        call.open_inputs.discard(pin.input_id)
        if not call.open_inputs:
            self.on_call_done(call)
        for observer in self.input_observers:
            try:
                observer(pool, pin, result)
            except Exception:  # an observer (the dashboard's history) must never fail a call
                log.exception("input observer %r failed", observer)

    def _on_timeout(self, pool: Pool, pin: PendingInput) -> None:
        """An input ran past its timeout: its container is stopped (code cannot be interrupted safely)."""
        found = self.slots.get(pin.container_id)
        if found is None:
            return
        _, slot = found
        message = f"Function {pool.name!r} timed out after {pool.timeout:g}s"
        self._finish(pool, slot, pin, failure(api_pb2.RESULT_STATUS_TIMEOUT, message))
        # Other inputs of that container are retried or failed when it exits.
        self._stop_slot(pool, slot, grace=0.0)

    # ---------- cancellation and stop ----------
    def cancel_call(self, call: Call, terminate_containers: bool) -> None:
        call.cancelled = True
        for pool in self.pools.values():
            if pool.key != call.pool_key:
                continue
            kept = [p for p in pool.pending if p.call is not call]
            cancelled = [p for p in pool.pending if p.call is call]
            pool.pending.clear()
            pool.pending.extend(kept)
            cancelled += [p for p in pool.retrying.values() if p.call is call]
            for pin in cancelled:
                pool.retrying.pop(pin.input_id, None)
                pin.cancelled = True
                self._deliver_final(pool, pin, failure(api_pb2.RESULT_STATUS_TERMINATED, "the call was cancelled"))
            for slot in list(pool.containers.values()):
                for pin in list(slot.inflight.values()):
                    if pin.call is not call:
                        continue
                    pin.cancelled = True
                    self._deliver_final(pool, pin, failure(api_pb2.RESULT_STATUS_TERMINATED, "the call was cancelled"))
                    if terminate_containers:
                        self._stop_slot(pool, slot, grace=0.0)
                    else:
                        slot.send.put_nowait(api_pb2.WorkerDirective(cancel_input_id=pin.input_id))

    async def stop_pool(
        self, pool: Pool, reason: str, keep_durable: bool = False, status: int = api_pb2.RESULT_STATUS_TERMINATED
    ) -> None:
        """Stop a pool's containers and end its inputs with `status` (spawned ones stay pending in
        the store when `keep_durable`, for the next server to resume)."""
        pool.stopped = True
        self.pools.pop(pool.key, None)
        ended = list(pool.pending) + list(pool.retrying.values())
        pool.pending.clear()
        pool.retrying.clear()
        slots = list(pool.containers.values())
        for slot in slots:
            ended.extend(slot.inflight.values())
        for pin in ended:
            if not (keep_durable and pin.call.durable):
                pin.cancelled = False  # delivered here, whatever the status
                self._deliver_final(pool, pin, failure(status, reason))
            pin.cancelled = True  # a late output from its container is dropped
        for slot in slots:
            self._stop_slot(pool, slot)
        await asyncio.gather(*(asyncio.wait_for(s.exited.wait(), STOP_GRACE + 2.0) for s in slots),
                             return_exceptions=True)

    def drain_pool(self, key: str, pool: Pool, reason: str) -> None:
        """Take the pool out of service (new calls no longer find it) but let its queued and
        running inputs finish; its containers stop once it is idle (see _reap_loop)."""
        self.pools.pop(key, None)
        pool.min_containers = pool.buffer_containers = 0
        pool.drain_reason = reason
        self.draining.add(pool)

    # ---------- scale-down ----------
    def _sweep_timeouts(self, pool: Pool, now: float) -> None:
        """Inputs past their timeout (checked every REAP_INTERVAL: one sweep is cheaper than a
        timer per input on the hot path)."""
        limit = pool.timeout
        for slot in list(pool.containers.values()):
            for pin in list(slot.inflight.values()):
                if now - pin.started_at >= limit:
                    self._on_timeout(pool, pin)

    def _sweep_gpu_wait(self, pool: Pool, now: float) -> None:
        """Inputs that waited the function's timeout for a GPU with no container running fail."""
        if pool.gpu_wait_since is None or pool.live_containers():
            return
        if not pool.pending:
            pool.gpu_wait_since = None
            return
        if now - pool.gpu_wait_since >= pool.timeout:
            message = (
                f"Function {pool.name!r} waited {pool.timeout:g}s (its timeout) for GPU {pool.gpu_request}, "
                f"and none became available (this server has {self._installed_gpus()}). Ask for a GPU type "
                "the server has, or use a longer timeout."
            )
            pool.gpu_wait_since = None
            self._fail_pending(pool, api_pb2.RESULT_STATUS_TIMEOUT, message)

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            now = time.monotonic()
            for pool in list(self.draining):
                busy = pool.pending or pool.retrying or any(c.inflight for c in pool.containers.values())
                if not busy:
                    self.draining.discard(pool)
                    asyncio.get_running_loop().create_task(self.stop_pool(pool, pool.drain_reason))
                else:
                    self._sweep_timeouts(pool, now)
            for pool in list(self.pools.values()):
                self._sweep_timeouts(pool, now)
                self._sweep_gpu_wait(pool, now)
                ready = [c for c in pool.containers.values() if c.state == "ready"]
                keep = max(pool.min_containers, pool.desired_containers())
                excess = len(pool.live_containers()) - keep
                for slot in sorted(ready, key=lambda c: c.idle_since):
                    if excess <= 0:
                        break
                    if not slot.inflight and not slot.web_active and now - slot.idle_since >= pool.scaledown_window:
                        self._stop_slot(pool, slot)
                        excess -= 1
                if len(pool.live_containers()) < pool.min_containers:
                    self.kick(pool)
