"""The server side of `modal.Dict` and `modal.Queue`.

The metadata store holds every entry and item, so both survive restarts. Blocking
queue operations long-poll here: a waiter sleeps on an in-memory event for its
(queue, partition), set by whatever changes it, and re-checks the store when woken.
The server is one event loop and store calls are synchronous, so each check-then-act
is atomic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator

from nodal.proto import api_pb2
from nodal.server.auth import identity
from nodal.server.errors import ApiError, invalid, not_found
from nodal.server.ids import is_id
from nodal.store.metadata import DataObjectRecord, MetadataStore

log = logging.getLogger("nodal.data")

DICT = api_pb2.DATA_OBJECT_KIND_DICT
QUEUE = api_pb2.DATA_OBJECT_KIND_QUEUE
VOLUME = api_pb2.DATA_OBJECT_KIND_VOLUME  # its versions: nodal.server.volumes
NFS = api_pb2.DATA_OBJECT_KIND_NETWORK_FILE_SYSTEM  # its files: nodal.server.nfs
_KIND_NAMES = {DICT: "Dict", QUEUE: "Queue", VOLUME: "Volume", NFS: "NetworkFileSystem"}
_ID_PREFIX = {DICT: "di", QUEUE: "qu", VOLUME: "vo", NFS: "sv"}

DICT_ENTRY_TTL = 30 * 24 * 3600.0  # an entry expires 30 days after it was last written
QUEUE_MAX_PARTITIONS = 100_000
QUEUE_MAX_PARTITION_ITEMS = 5_000
QUEUE_MAX_ITEM_BYTES = 256 * 1024
QUEUE_MAX_PARTITION_KEY_BYTES = 64
MAX_WAIT = 60.0  # the longest single long-poll; clients call again to wait longer
ITERATE_BATCH = 100
EPHEMERAL_TTL = 300.0  # an ephemeral object unheard-of for this long lost its owner: delete it
SWEEP_EVERY = 30.0

_APP_LIVE_STATES = (api_pb2.APP_STATE_EPHEMERAL, api_pb2.APP_STATE_DETACHED, api_pb2.APP_STATE_DEPLOYED)

_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")


def check_name(name: str, kind_name: str) -> None:
    if not _NAME_RE.match(name):
        raise invalid(f"invalid {kind_name} name {name!r}: use 1 to 64 letters, digits, '-', '_' or '.'")


class DataService:
    """Named and ephemeral Dicts and Queues, their entries and items, and blocking waits."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self._changed: dict[tuple[str, bytes], asyncio.Event] = {}
        self._sweeper: asyncio.Task | None = None
        # Called with the id of every deleted object, after its row is gone (e.g. to remove NFS files).
        self.on_delete: list[Callable[[str], None]] = []
        # While a stream message is answered (`_batch`): objects already found, queues already expired.
        self._seen: dict[str, int] | None = None
        self._expired: set[str] | None = None
        # Owners could not heartbeat while the server was down: give them a fresh TTL.
        store.refresh_ephemeral(time.time())

    # ---- ephemeral objects ----
    def start(self) -> None:
        """Start deleting ephemeral objects whose owner stopped heartbeating (call on the server loop)."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            self.sweep(time.time())

    def sweep(self, now: float) -> list[str]:
        """Delete the ephemeral objects last heard from over EPHEMERAL_TTL before `now`; return their ids."""
        stale = self.store.stale_ephemeral(now - EPHEMERAL_TTL)
        for object_id in stale:
            self._delete_object(object_id)
        return stale

    def heartbeat(self, object_id: str) -> None:
        if not self.store.heartbeat_data_object(object_id, time.time()):
            raise not_found(f"ephemeral object {object_id!r} not found (it was deleted)")

    # ---- objects ----
    def get_or_create(self, req: api_pb2.DataObjectGetOrCreateRequest) -> str:
        kind_name = self._kind_name(req.kind)
        env = req.environment_name or "main"
        if req.ephemeral:
            return self._create(req.kind, None, env, self._owner_app(req))
        if req.app_id:
            raise invalid("app_id is only for ephemeral objects; a named object outlives its app")
        check_name(req.name, kind_name)
        found = self.store.find_data_object(req.kind, req.name, env)
        if found is not None:
            return found.object_id
        if not req.create_if_missing:
            raise not_found(
                f"{kind_name} {req.name!r} not found in environment {env!r}; pass create_if_missing=True to create it"
            )
        return self._create(req.kind, req.name, env)

    def _owner_app(self, req: api_pb2.DataObjectGetOrCreateRequest) -> str:
        """The running app a new ephemeral Dict or Queue belongs to ("" for none): a container's
        own app (from its credential, whatever the request says), else the `app_id` the client
        sent (the app its `app.run()` block runs). An app that already stopped (a retired
        version still draining) owns nothing: the object lives by its owner's heartbeats."""
        if req.kind not in (DICT, QUEUE):
            if req.app_id:
                raise invalid(f"app_id ties only ephemeral Dicts and Queues to an app, not a {_KIND_NAMES[req.kind]}")
            return ""
        who = identity.current()
        app_id = who.app_id if who.kind == "container" else req.app_id
        if not app_id:
            return ""
        if not is_id(app_id, "app"):
            raise invalid(f"malformed app id {app_id!r}")
        app = self.store.get_app(app_id)
        if app is None:
            raise not_found(f"app {app_id} not found")
        return app_id if app.state in _APP_LIVE_STATES else ""

    def delete_app_objects(self, app_id: str) -> list[str]:
        """Delete the ephemeral objects that belong to app `app_id` (called when it stops)."""
        doomed = self.store.app_data_objects(app_id) if app_id else []
        for object_id in doomed:
            self._delete_object(object_id)
        if doomed:
            log.info("deleted %d ephemeral object(s) of stopped app %s", len(doomed), app_id)
        return doomed

    def _create(self, kind: int, name: str | None, env: str, app_id: str = "") -> str:
        object_id = f"{_ID_PREFIX[kind]}-{secrets.token_hex(12)}"
        try:
            self.store.put_data_object(DataObjectRecord(object_id, kind, name, env, time.time(), app_id))
        except sqlite3.IntegrityError:  # cannot happen on one event loop, but be exact
            raise ApiError("AlreadyExistsError", f"{_KIND_NAMES[kind]} {name!r} already exists") from None
        return object_id

    def delete(self, req: api_pb2.DataObjectDeleteRequest) -> None:
        kind_name = self._kind_name(req.kind)
        if req.object_id:
            obj = self.store.get_data_object(req.object_id)
        else:
            check_name(req.name, kind_name)
            obj = self.store.find_data_object(req.kind, req.name, req.environment_name or "main")
        if obj is None or obj.kind != req.kind:
            raise not_found(f"{kind_name} {req.name or req.object_id!r} not found")
        self._delete_object(obj.object_id)

    def list(self, req: api_pb2.DataObjectListRequest) -> api_pb2.DataObjectListResponse:
        self._kind_name(req.kind)
        env = req.environment_name or "main"
        return api_pb2.DataObjectListResponse(
            objects=[
                api_pb2.DataObjectInfo(object_id=o.object_id, name=o.name or "", environment_name=o.environment,
                                       created_at=o.created_at)
                for o in self.store.list_data_objects(req.kind, env)
            ]
        )

    def rename_volume(self, req: api_pb2.VolumeRenameRequest) -> None:
        check_name(req.name, "Volume")
        obj = self.store.get_data_object(req.volume_id)
        if obj is None or obj.kind != VOLUME or obj.name is None:
            raise not_found(f"Volume {req.volume_id!r} not found (it may have been deleted)")
        if obj.name == req.name:
            return
        try:
            self.store.rename_data_object(obj.object_id, req.name)
        except sqlite3.IntegrityError:
            raise ApiError(
                "AlreadyExistsError", f"Volume {req.name!r} already exists in environment {obj.environment!r}"
            ) from None

    def _delete_object(self, object_id: str) -> None:
        self.store.delete_data_object(object_id)
        for hook in self.on_delete:
            hook(object_id)
        for key in [k for k in self._changed if k[0] == object_id]:
            self._notify(*key)  # waiters wake up and find it gone

    def _kind_name(self, kind: int) -> str:
        if kind not in _KIND_NAMES:
            raise invalid(f"unknown data object kind {kind}")
        return _KIND_NAMES[kind]

    def _require(self, object_id: str, kind: int) -> None:
        seen = self._seen
        if seen is not None and seen.get(object_id) == kind:
            return
        obj = self.store.get_data_object(object_id)
        if obj is None or obj.kind != kind:
            raise not_found(f"{_KIND_NAMES[kind]} {object_id!r} not found (it may have been deleted)")
        if seen is not None:
            seen[object_id] = kind

    # ---- dicts ----
    def _live_since(self) -> float:
        return time.time() - DICT_ENTRY_TTL

    # The hot ops write their answer into `resp` where given (a result inside the stream's
    # response message: no copy of it), else into a new message.
    def dict_get(self, req: api_pb2.DictGetRequest,
                 resp: api_pb2.DictGetResponse | None = None) -> api_pb2.DictGetResponse:
        resp = api_pb2.DictGetResponse() if resp is None else resp
        value = self.store.dict_get(req.dict_id, req.key, self._live_since())
        if value is None:
            self._require(req.dict_id, DICT)  # a miss: no such key, or no such Dict (NotFoundError)
            resp.SetInParent()  # found=False
            return resp
        # A hit proves the Dict exists: its entries go in the same transaction that deletes it.
        resp.found = True
        if req.want_value:
            resp.value = value
        return resp

    def dict_put(self, req: api_pb2.DictPutRequest,
                 resp: api_pb2.DictPutResponse | None = None) -> api_pb2.DictPutResponse:
        resp = api_pb2.DictPutResponse() if resp is None else resp
        if len(req.entries) == 1 and not req.skip_if_exists:  # `d[k] = v`: one statement checks and writes
            entry = req.entries[0]
            if not self.store.dict_put_one(req.dict_id, DICT, entry.key, entry.value, time.time()):
                raise not_found(f"Dict {req.dict_id!r} not found (it may have been deleted)")
            resp.created = True
            return resp
        self._require(req.dict_id, DICT)
        entries = [(e.key, e.value) for e in req.entries]
        created = self.store.dict_put(
            req.dict_id, entries, time.time(), req.skip_if_exists, self._live_since()
        )
        resp.created = created
        resp.SetInParent()
        return resp

    def dict_pop(self, req: api_pb2.DictPopRequest) -> api_pb2.DictGetResponse:
        self._require(req.dict_id, DICT)
        value = self.store.dict_pop(req.dict_id, req.key, self._live_since())
        return api_pb2.DictGetResponse(found=value is not None, value=value or b"")

    def dict_len(self, req: api_pb2.DictLenRequest) -> int:
        self._require(req.dict_id, DICT)
        return self.store.dict_len(req.dict_id)

    def dict_clear(self, req: api_pb2.DictClearRequest) -> None:
        self._require(req.dict_id, DICT)
        self.store.dict_clear(req.dict_id)

    def dict_contents(self, req: api_pb2.DictContentsRequest) -> api_pb2.DictContentsResponse:
        self._require(req.dict_id, DICT)
        entries = self.store.dict_contents(req.dict_id, self._live_since())
        return api_pb2.DictContentsResponse(entries=[api_pb2.DictEntry(key=k, value=v) for k, v in entries])

    # ---- the fast path: non-blocking ops over one stream per client ----
    async def stream(self, requests: AsyncIterator[api_pb2.DataStreamRequest]) -> AsyncIterator[api_pb2.DataStreamResponse]:
        """Answer each message's ops, in order, with one message. Every op here is non-blocking
        (queue ops need timeout 0), so one slow op never holds up the others."""
        async for req in requests:
            yield self.answer(req.ops)

    def answer(self, ops: list[api_pb2.DataOp]) -> api_pb2.DataStreamResponse:
        """Run the ops of one stream message in one transaction (group commit) and answer them;
        a message of one op runs in the store calls' own transactions.

        Synchronous, so no other coroutine touches the store mid-transaction; the answer is sent
        only after the commit, so a write is reported done only once it is durable."""
        response = api_pb2.DataStreamResponse()
        if len(ops) == 1:
            # One op (every blocking call): no transaction around it. Its store calls are each
            # atomic and commit before they return, and nothing else runs on the loop meanwhile.
            self._stream_op(ops[0], response.results.add())
            return response
        try:
            with self._batch():
                for op in ops:
                    self._stream_op(op, response.results.add())
        except Exception as exc:  # noqa: BLE001 - the commit failed: none of these writes happened
            log.exception("committing %d data stream ops failed", len(ops))
            response = api_pb2.DataStreamResponse(results=[
                api_pb2.DataResult(id=op.id, error_kind="InternalFailure", error_message=f"commit failed: {exc!r}")
                for op in ops
            ])
        return response

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """One store transaction, remembering within it which objects exist and which queues were
        already expired (nothing on the stream deletes objects, and it all happens in an instant)."""
        self._seen, self._expired = {}, set()
        try:
            with self.store.transaction():
                yield
        finally:
            self._seen = self._expired = None

    def _stream_op(self, op: api_pb2.DataOp, result: api_pb2.DataResult) -> None:
        """Run one op and write its answer (or its error) into `result`, in place."""
        which = op.WhichOneof("op")
        result.id = op.id
        try:
            if which == "dict_get":
                self.dict_get(op.dict_get, result.dict_get)
            elif which == "dict_put":
                self.dict_put(op.dict_put, result.dict_put)
            elif which == "queue_put" or which == "queue_get":
                inner = getattr(op, which)
                if inner.timeout != 0:
                    raise invalid("queue ops on the data stream must not wait (timeout 0); use QueuePut/QueueGet")
                if which == "queue_put":
                    self._check_queue_put(inner)
                    result.queue_put.full = not self._try_queue_put(inner)
                    result.queue_put.SetInParent()
                else:
                    self._check_queue_get(inner)
                    values = self._try_queue_get(inner)
                    result.queue_get.values.extend(values)
                    result.queue_get.SetInParent()
            elif which == "dict_pop":
                result.dict_get.CopyFrom(self.dict_pop(op.dict_pop))
            elif which == "dict_len":
                result.count.count = self.dict_len(op.dict_len)
                result.count.SetInParent()
            elif which == "queue_len":
                result.count.count = self.queue_len(op.queue_len)
                result.count.SetInParent()
            else:
                raise invalid(f"unknown data stream op {which!r}")
        except ApiError as err:
            result.Clear()
            result.id, result.error_kind, result.error_message = op.id, err.kind, err.message
        except Exception as exc:  # noqa: BLE001 - one failing op must not end the client's stream
            log.exception("data stream op %s failed", which)
            result.Clear()
            result.id, result.error_kind, result.error_message = op.id, "InternalFailure", f"{which}: {exc!r}"

    # ---- queues ----
    def _notify(self, queue_id: str, partition: bytes) -> None:
        event = self._changed.pop((queue_id, partition), None)
        if event is not None:
            event.set()

    async def _wait_change(self, queue_id: str, partition: bytes, deadline: float) -> bool:
        """Sleep until the partition changes or `deadline` (monotonic) passes; False on the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        event = self._changed.setdefault((queue_id, partition), asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), remaining)
            return True
        except TimeoutError:
            return False

    def _queue_ready(self, queue_id: str) -> None:
        self._require(queue_id, QUEUE)
        expired = self._expired
        if expired is not None:
            if queue_id in expired:
                return
            expired.add(queue_id)
        self.store.queue_expire(queue_id, time.time())

    @staticmethod
    def _check_partition(partition: bytes) -> None:
        if len(partition) > QUEUE_MAX_PARTITION_KEY_BYTES:
            raise invalid("Queue partition key must be between 1 and 64 bytes.")

    @staticmethod
    def _deadline(timeout: float) -> float:
        if timeout < 0:
            raise invalid("timeout must not be negative")
        return time.monotonic() + min(timeout, MAX_WAIT)

    def _check_queue_put(self, req: api_pb2.QueuePutRequest) -> None:
        self._check_partition(req.partition)
        if req.partition_ttl <= 0:
            raise invalid("partition_ttl must be a positive number of seconds")
        if len(req.values) > QUEUE_MAX_PARTITION_ITEMS:
            raise invalid(
                f"cannot put {len(req.values)} items at once: a Queue partition holds at most "
                f"{QUEUE_MAX_PARTITION_ITEMS}"
            )
        for v in req.values:
            if len(v) > QUEUE_MAX_ITEM_BYTES:
                raise ApiError(
                    "RequestSizeError", f"Queue items are limited to 256 KiB; this one is {len(v)} bytes"
                )

    def _try_queue_put(self, req: api_pb2.QueuePutRequest) -> bool:
        """Put the items if the partition has room now; False if it is full."""
        now = time.time()
        state = self.store.queue_partition_state(req.queue_id, req.partition)
        if state is not None and state[0] >= now:
            # A live partition: the Queue exists (its partitions go in the transaction that
            # deletes it), and this put adds no partition.
            count = state[1]
        else:  # a new partition, or one whose TTL ran out (dropped here, and its items with it)
            self._queue_ready(req.queue_id)
            if self.store.queue_partition_count(req.queue_id) >= QUEUE_MAX_PARTITIONS:
                raise invalid(f"a Queue holds at most {QUEUE_MAX_PARTITIONS} partitions; clear some first")
            count = 0
        if count + len(req.values) > QUEUE_MAX_PARTITION_ITEMS:
            return False
        self.store.queue_put(req.queue_id, req.partition, list(req.values), now + req.partition_ttl)
        self._notify(req.queue_id, req.partition)
        return True

    async def queue_put(self, req: api_pb2.QueuePutRequest) -> api_pb2.QueuePutResponse:
        self._check_queue_put(req)
        deadline = self._deadline(req.timeout)
        while True:
            if self._try_queue_put(req):
                return api_pb2.QueuePutResponse(full=False)
            if not await self._wait_change(req.queue_id, req.partition, deadline):
                return api_pb2.QueuePutResponse(full=True)

    def _check_queue_get(self, req: api_pb2.QueueGetRequest) -> None:
        self._check_partition(req.partition)
        if req.n_values <= 0:
            raise invalid("n_values must be a positive integer")

    def _try_queue_get(self, req: api_pb2.QueueGetRequest) -> list[bytes]:
        """Take up to n_values items if there are any now; [] if the partition is empty."""
        # Items prove the Queue exists (they go in the transaction that deletes it); only a
        # partition whose TTL has not run out gives any.
        values = self.store.queue_take(req.queue_id, req.partition, req.n_values, live_at=time.time())
        if not values:
            self._queue_ready(req.queue_id)  # NotFoundError for a deleted Queue; expired partitions go
            return []
        self._notify(req.queue_id, req.partition)  # blocked putters may now have room
        return values

    async def queue_get(self, req: api_pb2.QueueGetRequest) -> api_pb2.QueueGetResponse:
        self._check_queue_get(req)
        deadline = self._deadline(req.timeout)
        while True:
            values = self._try_queue_get(req)
            if values:
                return api_pb2.QueueGetResponse(values=values)
            if not await self._wait_change(req.queue_id, req.partition, deadline):
                return api_pb2.QueueGetResponse()

    async def queue_next_items(self, req: api_pb2.QueueNextItemsRequest) -> api_pb2.QueueNextItemsResponse:
        self._check_partition(req.partition)
        deadline = self._deadline(req.timeout)
        while True:
            self._queue_ready(req.queue_id)
            items = self.store.queue_items_after(
                req.queue_id, req.partition, req.after_item_id, ITERATE_BATCH
            )
            if items:
                return api_pb2.QueueNextItemsResponse(
                    items=[api_pb2.QueueItem(item_id=i, value=v) for i, v in items]
                )
            if not await self._wait_change(req.queue_id, req.partition, deadline):
                return api_pb2.QueueNextItemsResponse()

    def queue_len(self, req: api_pb2.QueueLenRequest) -> int:
        self._check_partition(req.partition)
        if req.total and req.partition:
            raise invalid("Partition must be null when requesting total length.")
        self._queue_ready(req.queue_id)
        return self.store.queue_len(req.queue_id, None if req.total else req.partition)

    def queue_clear(self, req: api_pb2.QueueClearRequest) -> None:
        self._check_partition(req.partition)
        if req.all_partitions and req.partition:
            raise invalid("Partition must be null when requesting to clear all.")
        self._require(req.queue_id, QUEUE)
        self.store.queue_clear(req.queue_id, None if req.all_partitions else req.partition)
        for key in [k for k in self._changed if k[0] == req.queue_id]:
            self._notify(*key)
