"""`modal.Queue`: a distributed FIFO queue with independent partitions, kept by the server.

Items live in the server's metadata store (they survive restarts). Blocking `get` and
`put` wait on the server (a long poll, re-issued every minute at most), never by
polling from here. Limits, as Modal documents them: 100,000 partitions per queue,
5,000 items per partition, 256 KiB per item, partition keys of 1 to 64 bytes.
"""

from __future__ import annotations

import functools
import queue as _stdlib_queue
import time
from collections.abc import AsyncIterator
from typing import Any

from modal._serialization import deserialize, serialize
from modal._utils.async_utils import NO_FAST_PATH, live_method, live_method_gen
from modal.client import Client
from modal.dict import EPHEMERAL_HEARTBEAT_SLEEP, _DataObject, _Ephemeral, data_call
from modal.exception import InvalidError, RequestSizeError
from nodal.proto import api_pb2

MAX_ITEM_BYTES = 256 * 1024
MAX_PARTITION_ITEMS = 5_000
DEFAULT_PARTITION_TTL = 24 * 3600
_LONG_POLL = 50.0  # seconds one server-side wait may last; longer waits re-issue it


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    ):
        raise InvalidError("timeout must be None or a non-negative number of seconds")


class Queue(_DataObject):
    """A FIFO queue shared by every caller and container; `partition=` selects an independent sub-queue."""

    _kind = api_pb2.DATA_OBJECT_KIND_QUEUE
    _kind_name = "Queue"

    @staticmethod
    def from_name(
        name: str,
        namespace: Any = None,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        client: Client | None = None,
    ) -> Queue:
        """A lazy handle to the named Queue, looked up (or created) when first used."""
        return Queue._from_name(name, environment_name, create_if_missing, client)

    @classmethod
    def ephemeral(
        cls,
        client: Client | None = None,
        environment_name: str | None = None,
        _heartbeat_sleep: float = EPHEMERAL_HEARTBEAT_SLEEP,
    ) -> _Ephemeral:
        """A new anonymous Queue for a `with` (or `async with`) block, deleted at its end."""
        return cls._ephemeral(client, environment_name, None, _heartbeat_sleep)

    @staticmethod
    def validate_partition_key(partition: str | None) -> bytes:
        """The partition key as bytes (empty for the default partition); InvalidError if malformed."""
        if partition is None:
            return b""
        if not isinstance(partition, str):
            raise InvalidError(f"Queue partition key must be a str, not {type(partition).__name__}")
        key = partition.encode("utf-8")
        if len(key) == 0 or len(key) > 64:
            raise InvalidError("Queue partition key must be between 1 and 64 bytes.")
        return key

    # ---------- put ----------
    def _put_values(
        self, vs: list[Any], timeout: float | None, partition: str | None, partition_ttl: int
    ) -> tuple[bytes, list[bytes]]:
        """The partition key and serialized items of a put, checked against the limits."""
        _check_timeout(timeout)
        key = self.validate_partition_key(partition)
        if isinstance(partition_ttl, bool) or not isinstance(partition_ttl, int) or partition_ttl <= 0:
            raise InvalidError("partition_ttl must be a positive number of seconds")
        if len(vs) > MAX_PARTITION_ITEMS:
            raise InvalidError(
                f"cannot put {len(vs)} items at once: a partition holds at most {MAX_PARTITION_ITEMS}"
            )
        values = [serialize(v) for v in vs]
        for data in values:
            if len(data) > MAX_ITEM_BYTES:
                raise RequestSizeError(
                    f"Queue items are limited to 256 KiB; this one is {len(data)} bytes serialized"
                )
        return key, values

    def _put_try(
        self, v: Any, block: bool = True, timeout: float | None = None, *, partition: str | None = None,
        partition_ttl: int = DEFAULT_PARTITION_TTL,
    ) -> tuple[Any, Any]:
        """`put`'s first, non-waiting try as (the op's fields, its outcome). A full partition that
        may be waited on reads as NO_FAST_PATH: `put` on the SDK loop then waits (its own first
        try repeats this one, which changed nothing)."""
        key, values = self._put_values([v], timeout, partition, partition_ttl)

        def outcome(result: api_pb2.DataResult) -> Any:
            if not result.queue_put.full:
                return None
            if not block or timeout == 0:
                raise _stdlib_queue.Full(f"Queue {self._name or self._object_id} partition is full")
            return NO_FAST_PATH

        def fill(op: api_pb2.DataOp, oid: str) -> None:
            put = op.queue_put
            put.queue_id, put.partition, put.partition_ttl = oid, key, partition_ttl
            put.values.extend(values)

        return fill, outcome

    def _put_blocking(self, *args: Any, **kwargs: Any) -> Any:
        return self._op_blocking(*self._put_try(*args, **kwargs))

    async def _put_here(self, *args: Any, **kwargs: Any) -> Any:
        return await self._op_here(*self._put_try(*args, **kwargs))

    async def _put_many(
        self, vs: list[Any], block: bool, timeout: float | None, partition: str | None, partition_ttl: int
    ) -> None:
        key, values = self._put_values(vs, timeout, partition, partition_ttl)
        if not values:
            return
        client, queue_id = await self._ids()
        deadline = None if timeout is None else time.monotonic() + timeout
        # First without waiting, over the client's data stream (the fast path); then, if the
        # partition is full and we may wait, long polls on the server.
        first = api_pb2.QueuePutRequest(
            queue_id=queue_id, partition=key, values=values, partition_ttl=partition_ttl, timeout=0
        )
        if not (await data_call(client, queue_put=first)).queue_put.full:
            return
        if not block or timeout == 0:
            raise _stdlib_queue.Full(f"Queue {self._name or queue_id} partition is full")
        while True:
            wait = _remaining(deadline)
            resp = await client.stub.QueuePut(
                api_pb2.QueuePutRequest(
                    queue_id=queue_id, partition=key, values=values, partition_ttl=partition_ttl, timeout=wait
                )
            )
            if not resp.full:
                return
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise _stdlib_queue.Full(f"Queue {self._name or queue_id} partition is full")

    @functools.partial(live_method, blocking=_put_blocking, here=_put_here)
    async def put(
        self,
        v: Any,
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
        partition_ttl: int = DEFAULT_PARTITION_TTL,
    ) -> None:
        """Add `v` at the end; when the partition is full wait (up to `timeout`), then raise queue.Full."""
        await self._put_many([v], block, timeout, partition, partition_ttl)

    @live_method
    async def put_many(
        self,
        vs: list[Any],
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
        partition_ttl: int = DEFAULT_PARTITION_TTL,
    ) -> None:
        """Add every item of `vs` at the end, all or none; waits for room like `put`."""
        await self._put_many(list(vs), block, timeout, partition, partition_ttl)

    # ---------- get ----------
    def _get_key(self, n_values: int, timeout: float | None, partition: str | None) -> bytes:
        """The partition key of a get, its arguments checked."""
        _check_timeout(timeout)
        if isinstance(n_values, bool) or not isinstance(n_values, int) or n_values <= 0:
            raise InvalidError("n_values must be a positive integer")
        return self.validate_partition_key(partition)

    def _get_try(self, block: bool = True, timeout: float | None = None, *, partition: str | None = None) -> tuple[Any, Any]:
        """`get`'s first, non-waiting try as (the op's fields, its outcome). An empty partition that
        may be waited on reads as NO_FAST_PATH: `get` on the SDK loop then waits (its own first
        try repeats this one, which took nothing)."""
        key = self._get_key(1, timeout, partition)

        def outcome(result: api_pb2.DataResult) -> Any:
            values = result.queue_get.values
            if values:
                return deserialize(values[0])
            if not block:
                return None
            if timeout == 0:
                raise _stdlib_queue.Empty()
            return NO_FAST_PATH

        def fill(op: api_pb2.DataOp, oid: str) -> None:
            get = op.queue_get
            get.queue_id, get.partition, get.n_values = oid, key, 1

        return fill, outcome

    def _get_blocking(self, *args: Any, **kwargs: Any) -> Any:
        return self._op_blocking(*self._get_try(*args, **kwargs))

    async def _get_here(self, *args: Any, **kwargs: Any) -> Any:
        return await self._op_here(*self._get_try(*args, **kwargs))

    async def _get(
        self, n_values: int, block: bool, timeout: float | None, partition: str | None
    ) -> list[Any]:
        key = self._get_key(n_values, timeout, partition)
        client, queue_id = await self._ids()
        deadline = None if timeout is None else time.monotonic() + timeout
        # First without waiting, over the client's data stream (the fast path); then, if the
        # partition is empty and we may wait, long polls on the server (woken by the next put).
        first = api_pb2.QueueGetRequest(queue_id=queue_id, partition=key, n_values=n_values, timeout=0)
        values = (await data_call(client, queue_get=first)).queue_get.values
        if values:
            return [deserialize(v) for v in values]
        if not block:
            return []
        if timeout == 0:
            raise _stdlib_queue.Empty()
        while True:
            wait = _remaining(deadline)
            resp = await client.stub.QueueGet(
                api_pb2.QueueGetRequest(queue_id=queue_id, partition=key, n_values=n_values, timeout=wait)
            )
            if resp.values:
                return [deserialize(v) for v in resp.values]
            if not block:
                return []
            if deadline is not None and time.monotonic() >= deadline:
                raise _stdlib_queue.Empty()

    @functools.partial(live_method, blocking=_get_blocking, here=_get_here)
    async def get(
        self, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> Any:
        """Remove and return the next item; waits (up to `timeout`, then queue.Empty) when empty.

        With `block=False` an empty queue gives None at once."""
        values = await self._get(1, block, timeout, partition)
        return values[0] if values else None

    @live_method
    async def get_many(
        self, n_values: int, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> list[Any]:
        """Remove and return up to `n_values` items; waits for at least one like `get`.

        With `block=False` an empty queue gives [] at once."""
        return await self._get(n_values, block, timeout, partition)

    # ---------- inspection ----------
    @live_method
    async def len(self, *, partition: str | None = None, total: bool = False) -> int:
        """Items in the partition, or in all partitions with `total=True`."""
        if partition is not None and total:
            raise InvalidError("Partition must be null when requesting total length.")
        key = self.validate_partition_key(partition)
        client, queue_id = await self._ids()
        req = api_pb2.QueueLenRequest(queue_id=queue_id, partition=key, total=total)
        return (await data_call(client, queue_len=req)).count.count

    @live_method
    async def clear(self, *, partition: str | None = None, all: bool = False) -> None:
        """Empty one partition, or every partition with `all=True`."""
        if partition is not None and all:
            raise InvalidError("Partition must be null when requesting to clear all.")
        key = self.validate_partition_key(partition)
        client, queue_id = await self._ids()
        await client.stub.QueueClear(
            api_pb2.QueueClearRequest(queue_id=queue_id, partition=key, all_partitions=all)
        )

    @live_method_gen
    async def iterate(
        self, *, partition: str | None = None, item_poll_timeout: float = 0.0
    ) -> AsyncIterator[Any]:
        """(Beta) Yield the partition's items in order without removing them.

        Ends when no next item arrives within `item_poll_timeout` seconds."""
        _check_timeout(item_poll_timeout)
        key = self.validate_partition_key(partition)
        client, queue_id = await self._ids()
        last = 0
        while True:
            deadline = time.monotonic() + item_poll_timeout
            while True:
                resp = await client.stub.QueueNextItems(
                    api_pb2.QueueNextItemsRequest(
                        queue_id=queue_id, partition=key, after_item_id=last, timeout=_remaining(deadline)
                    )
                )
                if resp.items or time.monotonic() >= deadline:
                    break
            if not resp.items:
                return
            for item in resp.items:
                last = item.item_id
                yield deserialize(item.value)


def _remaining(deadline: float | None) -> float:
    """Seconds one server-side wait may last: until the deadline, at most one long poll."""
    if deadline is None:
        return _LONG_POLL
    return max(0.0, min(_LONG_POLL, deadline - time.monotonic()))
