"""The SDK half of the call path: send inputs, receive outputs, turn results into values.

Every streamed call rides the client's single `CallStream`; `.map` batches its
inputs and keeps a bounded number in flight so memory stays flat however long
the input iterator is.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from modal._container import current_input_id
from modal._serialization import deserialize, serialize_args
from modal._utils.async_utils import NO_FAST_PATH, run_aio, run_sync
from modal.client import Client, translate_stream_error
from modal.exception import (
    ConnectionError,
    ExecutionError,
    FunctionTimeoutError,
    InputCancellation,
    InternalFailure,
    RemoteError,
    error_from_name,
)
from nodal.proto import api_pb2
from nodal.proto.framing import EOF, StreamError

INLINE_LIMIT = 2 * 1024 * 1024  # bigger payloads go through the blob store
MAP_BATCH = 1000  # inputs per CallPutInputs message
MAP_MAX_INFLIGHT = 50_000  # inputs sent but not yet answered, per map


def new_call_id() -> str:
    return "fc-" + secrets.token_hex(12)


async def make_payload(client: Client, data: bytes) -> api_pb2.Payload:
    if len(data) <= INLINE_LIMIT:
        return api_pb2.Payload(data=data)
    resp = await client.stub.BlobPut(api_pb2.BlobPutRequest(data=data))
    return api_pb2.Payload(blob=resp.sha256)


async def load_payload(client: Client, payload: api_pb2.Payload) -> bytes:
    if payload.blob:
        return (await client.stub.BlobGet(api_pb2.BlobGetRequest(sha256=payload.blob))).data
    return payload.data


async def make_input(client: Client, idx: int, args: tuple, kwargs: dict, method_name: str = "") -> api_pb2.Input:
    data = serialize_args(args, kwargs)
    if len(data) <= INLINE_LIMIT:
        return api_pb2.Input(idx=idx, args=api_pb2.Payload(data=data), method_name=method_name)
    return api_pb2.Input(idx=idx, args=await make_payload(client, data), method_name=method_name)


def _inline_input(idx: int, args: tuple, kwargs: dict, method_name: str) -> tuple[api_pb2.Input | None, bytes]:
    """(the input, when its arguments fit inline: the common case, without a coroutine (hot in
    .map); else None and the arguments for the blob store)."""
    data = serialize_args(args, kwargs)
    if len(data) <= INLINE_LIMIT:
        return api_pb2.Input(idx=idx, args=api_pb2.Payload(data=data), method_name=method_name), data
    return None, data


def _with_remote_traceback(exc: BaseException, tb: str) -> BaseException:
    if tb and isinstance(exc, BaseException) and hasattr(exc, "add_note"):
        exc.add_note("\nRemote traceback (most recent call last):\n" + tb.rstrip())
    return exc


async def result_value(client: Client, result: api_pb2.Result) -> Any:
    """The value of a result, or raise the exception it carries."""
    status = result.status
    if status == api_pb2.RESULT_STATUS_SUCCESS:
        return deserialize(await load_payload(client, result.data)) if (result.data.data or result.data.blob) else None
    if status == api_pb2.RESULT_STATUS_TIMEOUT:
        raise FunctionTimeoutError(result.exception or "the function timed out")
    if status == api_pb2.RESULT_STATUS_TERMINATED:
        raise InputCancellation(result.exception or "the input was cancelled")
    if status in (api_pb2.RESULT_STATUS_FAILURE, api_pb2.RESULT_STATUS_INIT_FAILURE) and (
        result.data.data or result.data.blob
    ):
        try:
            exc = deserialize(await load_payload(client, result.data))
        except Exception:  # noqa: BLE001 - fall back to the text below
            exc = None
        if isinstance(exc, BaseException):
            raise _with_remote_traceback(exc, result.traceback)
    if status == api_pb2.RESULT_STATUS_INIT_FAILURE:
        raise ExecutionError(f"the container failed to start: {result.exception}")
    if status == api_pb2.RESULT_STATUS_INTERNAL_FAILURE:
        raise InternalFailure(result.exception or "internal failure")
    raise RemoteError(_with_remote_traceback(RemoteError(result.exception), result.traceback).args[0])


async def _outcome(client: Client, result: api_pb2.Result, return_exceptions: bool) -> Any:
    if result.status == api_pb2.RESULT_STATUS_SUCCESS and not result.data.blob:
        return deserialize(result.data.data) if result.data.data else None  # the hot case in .map
    try:
        return await result_value(client, result)
    except Exception as exc:
        if return_exceptions:
            return exc
        raise


async def _next_output(q: asyncio.Queue) -> api_pb2.Output:
    item = await q.get()
    if isinstance(item, BaseException):
        raise item
    return item


async def call_once(client: Client, function_id: str, inp: api_pb2.Input) -> Any:
    """`.remote()`: one input, one output, on the running loop's CallStream (`client.call_stream`)."""
    stream = client.call_stream()
    call_id = new_call_id()
    q = stream.open(call_id)
    try:
        await stream.put(api_pb2.CallPutInputs(
            call_id=call_id, function_id=function_id, inputs=[inp], last=True,
            parent_input_id=current_input_id() or "",
        ))
        out = await _next_output(q)
        result = out.result
        if result.status == api_pb2.RESULT_STATUS_SUCCESS and not result.data.blob:
            return deserialize(result.data.data) if result.data.data else None
        return await run_aio(result_value(client, result))  # may fetch a blob: gRPC, on the SDK loop
    except asyncio.CancelledError:
        stream.cancel(call_id)
        raise
    finally:
        stream.close_call(call_id)


async def call_once_here(client: Client, function_id: str, args: tuple, kwargs: dict, method_name: str) -> Any:
    """`.remote.aio()` from a user's event loop, run on that loop (its own framed CallStream) with
    no hop to the SDK's; NO_FAST_PATH where that does not apply (no framed socket, an argument
    for the blob store), and the call then goes to the SDK loop."""
    if not client.framed:
        return NO_FAST_PATH
    inp, _data = _inline_input(0, args, kwargs, method_name)
    if inp is None:
        return NO_FAST_PATH
    return await call_once(client, function_id, inp)


def call_once_blocking(client: Client, function_id: str, args: tuple, kwargs: dict, method_name: str) -> Any:
    """`.remote()` for a blocking caller, on the calling thread's own framed CallStream: the
    input goes out and the output comes back without a hop to the SDK's event loop. NO_FAST_PATH
    where that does not apply (no framed socket, an argument for the blob store); the caller then
    takes `call_once` on the loop. Waits as long as the call runs, like `call_once`."""
    data = serialize_args(args, kwargs)
    if len(data) > INLINE_LIMIT:
        return NO_FAST_PATH
    stream = client.blocking_stream("CallStream")
    if stream is None:
        return NO_FAST_PATH
    call_id = new_call_id()
    put = api_pb2.CallPutInputs(
        call_id=call_id, function_id=function_id, last=True, parent_input_id=current_input_id() or "",
        inputs=[api_pb2.Input(idx=0, args=api_pb2.Payload(data=data), method_name=method_name)],
    )
    try:
        stream.write(api_pb2.CallStreamRequest(put=put))
        while True:
            resp = stream.read()
            if resp is EOF:
                raise ConnectionError("the Nodal server closed the call stream")
            if resp.error_call_id == call_id:
                raise error_from_name(resp.error_kind or "Error", resp.error)
            for out in resp.outputs:
                if out.call_id != call_id:
                    continue  # a call this thread gave up on (interrupted) answering late
                result = out.result
                if result.status == api_pb2.RESULT_STATUS_SUCCESS and not result.data.blob:
                    return deserialize(result.data.data) if result.data.data else None
                return run_sync(result_value(client, result))
    except StreamError as err:
        raise translate_stream_error(err) from None
    except KeyboardInterrupt:
        try:  # the caller gave up: the call is no longer wanted (as call_once does when cancelled)
            stream.write(api_pb2.CallStreamRequest(cancel=api_pb2.CallCancelRequest(call_id=call_id)))
        except StreamError:
            pass
        raise


async def call_gen(client: Client, function_id: str, inp: api_pb2.Input) -> AsyncIterator[Any]:
    """`.remote_gen()`: the generator's items, in order, then its final status."""
    stream = client.call_stream()
    call_id = new_call_id()
    q = stream.open(call_id)
    finished = False
    try:
        await stream.put(api_pb2.CallPutInputs(
            call_id=call_id, function_id=function_id, inputs=[inp], last=True,
            parent_input_id=current_input_id() or "",
        ))
        while True:
            out = await _next_output(q)
            if out.result.gen_item:
                yield await result_value(client, out.result)
                continue
            finished = True
            await result_value(client, out.result)  # raises if the generator failed
            return
    finally:
        if not finished:
            stream.cancel(call_id)
        stream.close_call(call_id)


async def _arg_tuples(iterators: tuple, star: bool) -> AsyncIterator[tuple]:
    """Zip the input iterators (sync or async) into argument tuples."""
    if star:
        (it,) = iterators
        if hasattr(it, "__aiter__"):
            async for item in it:
                yield tuple(item)
        else:
            for item in it:
                yield tuple(item)
        return
    if all(not hasattr(it, "__aiter__") for it in iterators):
        for args in zip(*iterators):
            yield args
        return
    aits = [it.__aiter__() if hasattr(it, "__aiter__") else _aiter_sync(it) for it in iterators]
    while True:
        try:
            yield tuple([await a.__anext__() for a in aits])
        except StopAsyncIteration:
            return


async def _aiter_sync(it: Iterable) -> AsyncIterator[Any]:
    for x in it:
        yield x


async def call_map(
    client: Client,
    function_id: str,
    iterators: tuple,
    kwargs: dict,
    *,
    order_outputs: bool,
    return_exceptions: bool,
    star: bool = False,
    method_name: str = "",
) -> AsyncIterator[Any]:
    """`.map()` / `.starmap()`: stream inputs in batches, yield outputs as they come (or in order)."""
    stream = client.call_stream()
    call_id = new_call_id()
    q = stream.open(call_id)
    room_freed = asyncio.Event()  # set when an output arrives while the feeder waits for room
    sent = 0
    received = 0
    done_sending = False
    feeder_error: list[BaseException] = []
    parent = current_input_id() or ""

    async def feed() -> None:
        nonlocal sent, done_sending
        loop = asyncio.get_running_loop()
        batch: list[api_pb2.Input] = []
        batch_started = 0.0
        first = True

        async def flush(last: bool = False) -> None:
            nonlocal batch, first
            await stream.put(api_pb2.CallPutInputs(call_id=call_id, function_id=function_id if first else "",
                                             inputs=batch, last=last, parent_input_id=parent))
            first, batch = False, []

        try:
            async for args in _arg_tuples(iterators, star):
                while sent - received >= MAP_MAX_INFLIGHT:
                    if batch:
                        await flush()  # never sit on inputs while waiting for outputs
                    room_freed.clear()
                    await room_freed.wait()
                if not batch:
                    batch_started = loop.time()
                inp, data = _inline_input(sent, args, kwargs, method_name)
                if inp is None:
                    inp = api_pb2.Input(idx=sent, args=await make_payload(client, data), method_name=method_name)
                batch.append(inp)
                sent += 1
                if len(batch) >= MAP_BATCH or loop.time() - batch_started > 0.005:
                    await flush()
                    await asyncio.sleep(0)  # let outputs flow while a long iterator is read
        except BaseException as exc:  # surfaced to the consumer below
            feeder_error.append(exc)
        finally:
            done_sending = True
            await flush(last=True)
            q.put_nowait(_FEEDER_DONE)

    feeder = asyncio.get_running_loop().create_task(feed())
    pending: dict[int, Any] = {}
    next_idx = 0
    ok = False
    try:
        while True:
            if done_sending and received >= sent and not pending:
                break
            item = await q.get()
            if item is _FEEDER_DONE:
                if feeder_error:
                    raise feeder_error[0]
                continue
            if isinstance(item, BaseException):
                raise item
            received += 1
            if sent - received < MAP_MAX_INFLIGHT:
                room_freed.set()
            result = item.result
            if result.status == api_pb2.RESULT_STATUS_SUCCESS and not result.data.blob:  # the hot case
                value = deserialize(result.data.data) if result.data.data else None
            else:
                value = await _outcome(client, result, return_exceptions)
            if not order_outputs:
                yield value
                continue
            pending[item.idx] = value
            while next_idx in pending:
                yield pending.pop(next_idx)
                next_idx += 1
        ok = True
    finally:
        feeder.cancel()
        if not ok:
            stream.cancel(call_id)
        stream.close_call(call_id)


_FEEDER_DONE = object()


class SpawnBatcher:
    """Coalesces the spawns made in one loop tick into one request (spawning from many tasks
    at once, e.g. `asyncio.gather(*(f.spawn.aio(x) for x in xs))`, costs a round trip per batch)."""

    def __init__(self, client: Client, function_id: str) -> None:
        self.client = client
        self.function_id = function_id
        self.waiting: list[tuple[api_pb2.Input, str, asyncio.Future]] = []

    async def spawn(self, inp: api_pb2.Input) -> str:
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        if not self.waiting:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._flush()))
        self.waiting.append((inp, current_input_id() or "", fut))
        return await fut

    async def _flush(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:SPAWN_BATCH], self.waiting[SPAWN_BATCH:]
            by_parent: dict[str, list] = {}
            for item in batch:
                by_parent.setdefault(item[1], []).append(item)
            for parent, items in by_parent.items():
                try:
                    resp = await self.client.stub.CallSpawn(api_pb2.CallSpawnRequest(
                        function_id=self.function_id, inputs=[i[0] for i in items], parent_input_id=parent))
                except BaseException as exc:  # noqa: BLE001 - each waiter gets the error
                    for _, _, fut in items:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, _, fut), call_id in zip(items, resp.call_ids):
                    if not fut.done():
                        fut.set_result(call_id)


SPAWN_BATCH = 1000
_batchers: dict[tuple[int, str], SpawnBatcher] = {}


def spawn_batcher(client: Client, function_id: str) -> SpawnBatcher:
    key = (id(client), function_id)
    batcher = _batchers.get(key)
    if batcher is None or batcher.client is not client:
        batcher = _batchers[key] = SpawnBatcher(client, function_id)
    return batcher


async def get_many(client: Client, call_ids: list[str], timeout: float | None) -> list[api_pb2.CallGetOutputsResponse]:
    """Wait for many spawned calls (in chunks the server accepts), keeping their order."""

    done: dict[str, api_pb2.CallGetOutputsResponse] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    todo = list(dict.fromkeys(call_ids))
    while todo:
        wait = 60.0 if deadline is None else max(0.0, deadline - time.monotonic())
        chunk = todo[:SPAWN_BATCH]
        from modal.functions import _through_restarts

        resp = await _through_restarts(client.stub.CallGetOutputsMany,
                                       api_pb2.CallGetOutputsManyRequest(call_ids=chunk, timeout=wait))
        for call_id, result in zip(chunk, resp.results):
            if result.done:
                done[call_id] = result
        todo = [c for c in todo if c not in done]
        if todo and deadline is not None and time.monotonic() >= deadline:
            break
    return [done.get(c, api_pb2.CallGetOutputsResponse(found=True)) for c in call_ids]
