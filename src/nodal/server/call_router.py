"""The call path: inputs in from callers, outputs back to them or kept for later.

Callers hold one long-lived `CallStream` each; outputs are batched onto it.
Spawned calls are persisted before they are acknowledged and re-queued after
a server restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Iterable

from google.protobuf.message import DecodeError

from nodal.proto import api_pb2
from nodal.server.apps import AppService
from nodal.server.calls import Call, PendingInput, failure
from nodal.server.errors import ApiError, invalid, not_found
from nodal.server.ids import new_id, new_input_id
from nodal.server.scheduler import Scheduler
from nodal.store.blob_store import BlobStore, is_sha256
from nodal.store.metadata import CallRecord, MetadataStore

log = logging.getLogger("nodal.calls")

_CALL_ID = re.compile(r"^fc-[0-9a-f]{8,64}$")
MAX_INLINE_PAYLOAD = 4 * 1024 * 1024  # larger arguments travel as blobs
MAX_OUTPUT_BATCH = 1000
MAX_GET_TIMEOUT = 300.0
MAX_SPAWN_BATCH = 1000
# Spawned inputs a pool keeps in memory; the rest wait in the store and are loaded,
# REFILL_BATCH at a time, when the in-memory queue runs below that.
MEMORY_QUEUE = int(os.environ.get("NODAL_SPAWN_MEMORY_QUEUE", "10000"))
REFILL_BATCH = max(1, MEMORY_QUEUE // 2)
PARKED_POLL = 0.2  # seconds between store checks for a waiter on a parked call
# ResultStatus -> modal.call_graph.InputStatus (PENDING 0, SUCCESS 1, FAILURE 2, TERMINATED 3, TIMEOUT 4, INIT_FAILURE 5)
_INPUT_STATUS = {1: 1, 2: 2, 3: 4, 4: 3, 5: 5, 6: 2}


class _Outbox:
    """What the server owes one caller's stream, in order: outputs (sent in batches) and
    per-call error responses. A list and an event: cheaper per output than a queue."""

    def __init__(self) -> None:
        self.items: list = []  # api_pb2.Output | api_pb2.CallStreamResponse
        self.ready = asyncio.Event()
        self.closed = False

    def put(self, item: api_pb2.Output | api_pb2.CallStreamResponse) -> None:
        self.items.append(item)
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    async def responses(self) -> AsyncIterator[api_pb2.CallStreamResponse]:
        while True:
            await self.ready.wait()
            self.ready.clear()
            items, self.items = self.items, []
            batch: list[api_pb2.Output] = []
            for item in items:
                if isinstance(item, api_pb2.Output):
                    batch.append(item)
                    if len(batch) >= MAX_OUTPUT_BATCH:
                        yield api_pb2.CallStreamResponse(outputs=batch)
                        batch = []
                    continue
                if batch:
                    yield api_pb2.CallStreamResponse(outputs=batch)
                    batch = []
                yield item
            if batch:
                yield api_pb2.CallStreamResponse(outputs=batch)
            if self.closed and not self.items:
                return


class CallService:
    def __init__(self, apps: AppService, scheduler: Scheduler, store: MetadataStore, blobs: BlobStore) -> None:
        self.apps = apps
        self.scheduler = scheduler
        self.store = store
        self.blobs = blobs
        self.calls: dict[str, Call] = {}
        self.children: dict[str, list[str]] = {}  # parent input id -> child call ids
        scheduler.on_call_done = self._call_done
        scheduler.on_pool_low = self.refill

    # ---------- validation ----------
    def _check_input(self, inp: api_pb2.Input) -> None:
        args = inp.args
        if args.blob:
            if not is_sha256(args.blob) or not self.blobs.has(args.blob):
                raise invalid(f"input {inp.idx} refers to blob {args.blob!r} that was not uploaded")
        elif len(args.data) > MAX_INLINE_PAYLOAD:
            raise ApiError("RequestSizeError", "inline arguments over 4 MiB must be uploaded as a blob")

    def _new_inputs(self, call: Call, inputs: Iterable[api_pb2.Input], track: bool) -> list[PendingInput]:
        pins = []
        for inp in inputs:
            self._check_input(inp)
            pin = PendingInput(input_id=new_input_id(), call=call, input=inp)
            if track:
                call.input_ids.append(pin.input_id)
            pins.append(pin)
        return pins

    # ---------- streamed calls ----------
    async def stream(self, requests: AsyncIterator[api_pb2.CallStreamRequest]) -> AsyncIterator[api_pb2.CallStreamResponse]:
        outbox = _Outbox()
        mine: dict[str, Call] = {}
        malformed: list[DecodeError] = []

        async def read() -> None:
            try:
                async for req in requests:
                    which = req.WhichOneof("msg")
                    if which == "put":
                        try:
                            self._put(req.put, mine, outbox.put)
                        except ApiError as err:
                            outbox.put(api_pb2.CallStreamResponse(
                                error_call_id=req.put.call_id, error=err.message, error_kind=err.kind))
                    elif which == "cancel":
                        call = mine.get(req.cancel.call_id)
                        if call is not None:
                            self.scheduler.cancel_call(call, req.cancel.terminate_containers)
            except DecodeError as exc:  # not a CallStreamRequest: the stream fails with InvalidError
                malformed.append(exc)
            finally:
                outbox.close()

        reader = asyncio.get_running_loop().create_task(read())
        try:
            async for response in outbox.responses():
                yield response
            if malformed:
                raise invalid("a CallStream message is malformed (not a CallStreamRequest)")
        finally:
            reader.cancel()
            for call in mine.values():  # the caller went away: its work is no longer wanted
                if not call.durable and call.open_inputs:
                    self.scheduler.cancel_call(call, terminate_containers=False)
                self.calls.pop(call.call_id, None)

    def _put(self, put: api_pb2.CallPutInputs, mine: dict[str, Call], sink) -> None:
        if not _CALL_ID.match(put.call_id):
            raise invalid(f"malformed call id {put.call_id!r}")
        call = mine.get(put.call_id)
        if call is None:
            if put.call_id in self.calls:
                raise invalid(f"call id {put.call_id} is already in use")
            pool = self.apps.pool(put.function_id)
            call = Call(put.call_id, pool.key, pool.name, sink=sink, parent_input_id=put.parent_input_id)
            mine[call.call_id] = call
            self.calls[call.call_id] = call
            if put.parent_input_id:
                self.children.setdefault(put.parent_input_id, []).append(call.call_id)
        pool = self.apps.pool(call.pool_key)
        pins = self._new_inputs(call, put.inputs, track=bool(put.parent_input_id))
        call.inputs_closed = put.last
        self.scheduler.submit(pool, pins)

    # ---------- durable calls ----------
    def spawn(self, req: api_pb2.CallSpawnRequest) -> list[str]:
        """Accept spawned calls: persisted before they are acknowledged. Beyond what the pool
        keeps queued in memory, calls wait in the store (parked) and are loaded as it drains,
        so a million spawns cost disk, not server memory."""
        inputs = list(req.inputs) if req.inputs else [req.input]
        if len(inputs) > MAX_SPAWN_BATCH:
            raise invalid(f"spawn at most {MAX_SPAWN_BATCH} inputs per request")
        for inp in inputs:
            self._check_input(inp)
        pool = self.apps.pool(req.function_id)
        now = time.time()
        records = [CallRecord(new_id("call"), pool.key, inp.SerializeToString(), now, req.parent_input_id)
                   for inp in inputs]
        room = 0 if pool.parked else max(0, MEMORY_QUEUE - len(pool.pending))
        for rec in records[room:]:
            rec.parked = True
        self.store.put_calls(records)
        if len(records) > room:
            pool.parked = True
        pins = []
        for rec, inp in zip(records[:room], inputs[:room]):
            pins.extend(self._load_call(rec, pool, inp))
        self.scheduler.submit(pool, pins)
        return [r.call_id for r in records]

    def spawn_each(self, requests: list[tuple[str, api_pb2.Input]]) -> list[str | ApiError]:
        """Spawn one call per (function id, input), for several functions at once: the calls are
        persisted in one transaction, then each pool gets its inputs in one submit. Answers, in
        order, the call id of each, or the ApiError that kept it from being made (that function
        only: the others still run). The schedule runner fires every due schedule this way."""
        now = time.time()
        results: list[str | ApiError] = []
        records: list[CallRecord] = []
        queued: dict[str, tuple] = {}  # pool key -> (pool, [(record, input)] to load now)
        for function_id, inp in requests:
            try:
                self._check_input(inp)
                pool = self.apps.pool(function_id)
            except ApiError as err:
                results.append(err)
                continue
            rec = CallRecord(new_id("call"), pool.key, inp.SerializeToString(), now, "")
            _, loading = queued.setdefault(pool.key, (pool, []))
            if pool.parked or len(pool.pending) + len(loading) >= MEMORY_QUEUE:
                rec.parked = True
            else:
                loading.append((rec, inp))
            records.append(rec)
            results.append(rec.call_id)
        self.store.put_calls(records)
        for rec in records:
            if rec.parked:
                queued[rec.function_id][0].parked = True
        for pool, loading in queued.values():
            pins = []
            for rec, inp in loading:
                pins.extend(self._load_call(rec, pool, inp))
            if pins:
                self.scheduler.submit(pool, pins)
        return results

    def _load_call(self, rec: CallRecord, pool, inp: api_pb2.Input) -> list[PendingInput]:
        call = Call(rec.call_id, pool.key, pool.name, durable=True, parent_input_id=rec.parent_input_id)
        call.inputs_closed = True
        self.calls[call.call_id] = call
        if rec.parent_input_id:
            self.children.setdefault(rec.parent_input_id, []).append(call.call_id)
        return self._new_inputs(call, [inp], track=True)

    def refill(self, pool) -> None:
        """Load parked spawned calls into a pool whose in-memory queue ran low."""
        if len(pool.pending) >= REFILL_BATCH:
            return
        records = self.store.unpark_calls(pool.key, REFILL_BATCH)
        if len(records) < REFILL_BATCH:
            pool.parked = False
        pins = []
        for rec in records:
            pins.extend(self._load_call(rec, pool, api_pb2.Input.FromString(rec.input)))
        if pins:
            self.scheduler.submit(pool, pins)

    def restore(self) -> int:
        """Re-queue spawned calls that were accepted before a restart but never finished."""
        n = 0
        for function_id in self.store.park_pending():
            try:
                pool = self.apps.pool(function_id)
            except ApiError as err:
                self._abandon(function_id, f"not resumed after restart: {err.message}")
                continue
            pool.parked = True
            self.refill(pool)
            n += 1
        return n

    def _abandon(self, function_id: str, message: str) -> None:
        """Finish the parked calls of a function that can no longer run, with an error."""
        while True:
            records = self.store.unpark_calls(function_id, REFILL_BATCH)
            for rec in records:
                out = api_pb2.Output(call_id=rec.call_id, result=failure(api_pb2.RESULT_STATUS_TERMINATED, message))
                self.store.finish_call(rec.call_id, api_pb2.CallGetOutputsResponse(
                    outputs=[out], done=True, found=True).SerializeToString())
            if len(records) < REFILL_BATCH:
                return

    def _call_done(self, call: Call) -> None:
        if not call.inputs_closed:
            return
        if call.durable:
            call.done = True
            if call.outputs:
                call.status = call.outputs[-1].result.status
            resp = api_pb2.CallGetOutputsResponse(outputs=call.outputs, done=True, found=True)
            self.store.finish_call(call.call_id, resp.SerializeToString())
            call.changed.set()
        self.calls.pop(call.call_id, None)

    async def get_outputs(self, req: api_pb2.CallGetOutputsRequest) -> api_pb2.CallGetOutputsResponse:
        if not _CALL_ID.match(req.call_id):
            raise invalid(f"malformed call id {req.call_id!r}")
        if req.timeout < 0:
            raise invalid("timeout must be >= 0")
        deadline = time.monotonic() + min(req.timeout, MAX_GET_TIMEOUT)
        while True:
            call = self.calls.get(req.call_id)
            if call is None or not call.durable:
                stored = self._stored_outputs(req)
                remaining = deadline - time.monotonic()
                if stored.done or remaining <= 0:
                    return stored
                # Parked in the store: check again shortly (it has no in-memory event yet).
                await asyncio.sleep(min(PARKED_POLL, remaining))
                continue
            items = [o for o in call.outputs if not o.result.gen_item or o.result.gen_index >= req.start_gen_index]
            if call.done or (items and req.start_gen_index >= 0 and any(o.result.gen_item for o in items)):
                return api_pb2.CallGetOutputsResponse(outputs=items, done=call.done, found=True)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return api_pb2.CallGetOutputsResponse(found=True)
            call.changed.clear()
            try:
                await asyncio.wait_for(call.changed.wait(), remaining)
            except TimeoutError:
                pass

    async def get_outputs_many(self, req: api_pb2.CallGetOutputsManyRequest) -> api_pb2.CallGetOutputsManyResponse:
        """Results of many spawned calls at once (for `gather`): waits until all are done or the
        timeout passes, then answers for each, done or not."""
        if len(req.call_ids) > MAX_SPAWN_BATCH:
            raise invalid(f"ask for at most {MAX_SPAWN_BATCH} calls at once")
        if req.timeout < 0:
            raise invalid("timeout must be >= 0")
        deadline = time.monotonic() + min(req.timeout, MAX_GET_TIMEOUT)
        results: dict[str, api_pb2.CallGetOutputsResponse] = {}
        for call_id in req.call_ids:
            remaining = max(0.0, deadline - time.monotonic())
            results[call_id] = await self.get_outputs(
                api_pb2.CallGetOutputsRequest(call_id=call_id, timeout=remaining, start_gen_index=-1))
        return api_pb2.CallGetOutputsManyResponse(results=[results[c] for c in req.call_ids])

    def _stored_outputs(self, req: api_pb2.CallGetOutputsRequest) -> api_pb2.CallGetOutputsResponse:
        rec = self.store.get_call(req.call_id)
        if rec is None:
            if req.call_id in self.calls:
                raise invalid(f"call {req.call_id} was not spawned; its results went to its caller")
            raise not_found(f"function call {req.call_id} not found")
        if not rec.done or rec.outputs is None:
            return api_pb2.CallGetOutputsResponse(found=True)
        resp = api_pb2.CallGetOutputsResponse.FromString(rec.outputs)
        kept = [o for o in resp.outputs if not o.result.gen_item or o.result.gen_index >= req.start_gen_index]
        return api_pb2.CallGetOutputsResponse(outputs=kept, done=True, found=True)

    def cancel(self, req: api_pb2.CallCancelRequest) -> None:
        call = self.calls.get(req.call_id)
        if call is None:
            if self.store.get_call(req.call_id) is None:
                raise not_found(f"function call {req.call_id} not found")
            return  # already finished: nothing to cancel
        self.scheduler.cancel_call(call, req.terminate_containers)

    def graph(self, call_id: str) -> api_pb2.CallGraphResponse:
        nodes: list[api_pb2.CallGraphNode] = []
        self._graph_nodes(call_id, "", nodes, depth=0)
        if not nodes and self.store.get_call(call_id) is None:
            raise not_found(f"function call {call_id} not found")
        return api_pb2.CallGraphResponse(nodes=nodes)

    def _graph_nodes(self, call_id: str, parent: str, nodes: list, depth: int) -> None:
        call: Call | None = self.calls.get(call_id)
        if call is None or depth > 50:
            rec = self.store.get_call(call_id)
            if rec is None:
                return
            if rec.done and rec.outputs:
                outs = api_pb2.CallGetOutputsResponse.FromString(rec.outputs).outputs
                st = outs[-1].result.status if outs else 1
                status = _INPUT_STATUS.get(st, 2)
                input_ids = [o.input_id for o in outs if not o.result.gen_item]
            else:
                status, input_ids = 0, []
            for iid in input_ids:
                nodes.append(api_pb2.CallGraphNode(input_id=iid, call_id=call_id, status=status, parent_input_id=parent))
                for child in self.children.get(iid, []):
                    self._graph_nodes(child, iid, nodes, depth + 1)
            return
        for iid in call.input_ids:
            nodes.append(api_pb2.CallGraphNode(input_id=iid, call_id=call_id, function_name=call.function_name,
                                               status=0, parent_input_id=parent))
            for child in self.children.get(iid, []):
                self._graph_nodes(child, iid, nodes, depth + 1)
