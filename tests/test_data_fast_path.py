"""The one-op fast path of Dict and Queue (a blocking `d[k] = v`, `q.get()`, ...): each op is a
single store statement where it can be, yet keeps every guarantee: NotFoundError once the object
is gone, writes visible to other clients as soon as they are answered, FIFO order with calls in
flight, partition TTLs. Store methods are checked on both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import cloudpickle
import pytest

import modal
from modal.exception import NotFoundError
from nodal.proto import api_pb2
from nodal.server.dict_queue import DICT, QUEUE, DataService
from nodal.store.backends.sqlite import SqliteMetadataStore
from nodal.store.metadata import DataObjectRecord


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---------- the store methods, on both backends ----------


def test_dict_put_one_writes_only_into_an_existing_dict(metadata_store):
    s = metadata_store
    s.put_data_object(DataObjectRecord("di-1", DICT, "d", "main", 1.0))
    s.put_data_object(DataObjectRecord("qu-1", QUEUE, "q", "main", 1.0))
    assert s.dict_put_one("di-1", DICT, b"k", b"v1", 10.0) is True
    assert s.dict_put_one("di-1", DICT, b"k", b"v2", 11.0) is True  # replaces
    assert s.dict_get("di-1", b"k", 0.0) == b"v2" and s.dict_len("di-1") == 1
    assert s.dict_get("di-1", b"k", 11.5) is None  # written at 11.0: its updated_at moved on
    # no such object, or one of another kind: nothing written
    assert s.dict_put_one("di-gone", DICT, b"k", b"v", 10.0) is False
    assert s.dict_put_one("qu-1", DICT, b"k", b"v", 10.0) is False
    assert s.dict_len("di-gone") == 0 and s.dict_len("qu-1") == 0
    s.delete_data_object("di-1")
    assert s.dict_put_one("di-1", DICT, b"k", b"v3", 12.0) is False
    assert s.dict_len("di-1") == 0


def test_queue_partition_state_and_live_take(metadata_store):
    s = metadata_store
    assert s.queue_partition_state("qu-1", b"") is None
    s.queue_put("qu-1", b"", [b"a", b"b", b"c"], 100.0)
    s.queue_put("qu-1", b"p", [b"x"], 50.0)
    assert s.queue_partition_state("qu-1", b"") == (100.0, 3)
    assert s.queue_partition_state("qu-1", b"p") == (50.0, 1)
    assert s.queue_take("qu-1", b"", 2, live_at=99.0) == [b"a", b"b"]  # oldest first
    assert s.queue_partition_state("qu-1", b"") == (100.0, 1)
    # A partition whose TTL ran out gives nothing, and keeps its items for queue_expire to drop.
    assert s.queue_take("qu-1", b"p", 5, live_at=60.0) == []
    assert s.queue_partition_state("qu-1", b"p") == (50.0, 1)
    assert s.queue_take("qu-1", b"p", 5, live_at=50.0) == [b"x"]  # live up to its expiry time
    assert s.queue_take("qu-1", b"nope", 5, live_at=0.0) == []
    s.queue_put("qu-1", b"", [b"d"], 200.0)
    assert s.queue_take("qu-1", b"", 5, live_at=150.0) == [b"c", b"d"]  # FIFO across puts
    s.queue_clear("qu-1", None)
    assert s.queue_partition_state("qu-1", b"") is None and s.queue_partition_state("qu-1", b"p") is None


# ---------- the service: one op per message, as a blocking client sends them ----------


@pytest.fixture
def service(tmp_path: Path):
    store = SqliteMetadataStore(tmp_path / "meta.db")
    yield DataService(store)
    store.close()


def _one(svc: DataService, **op) -> api_pb2.DataResult:
    (result,) = svc.answer([api_pb2.DataOp(id=7, **op)]).results
    assert result.id == 7
    return result


def test_one_op_messages_commit_each_op_and_check_the_object(service: DataService) -> None:
    svc = service
    d = svc.get_or_create(api_pb2.DataObjectGetOrCreateRequest(kind=DICT, ephemeral=True))
    q = svc.get_or_create(api_pb2.DataObjectGetOrCreateRequest(kind=QUEUE, ephemeral=True))
    key = cloudpickle.dumps("k")
    put = _one(svc, dict_put=api_pb2.DictPutRequest(dict_id=d, entries=[api_pb2.DictEntry(key=key, value=b"V")]))
    assert put.WhichOneof("result") == "dict_put" and put.dict_put.created
    assert not svc.store.db.in_transaction  # committed before the answer
    got = _one(svc, dict_get=api_pb2.DictGetRequest(dict_id=d, key=key, want_value=True))
    assert got.dict_get.found and got.dict_get.value == b"V"
    miss = _one(svc, dict_get=api_pb2.DictGetRequest(dict_id=d, key=b"absent", want_value=True))
    assert miss.WhichOneof("result") == "dict_get" and not miss.dict_get.found
    assert _one(svc, queue_put=api_pb2.QueuePutRequest(queue_id=q, values=[b"1"], partition_ttl=60)).WhichOneof(
        "result") == "queue_put"
    assert list(_one(svc, queue_get=api_pb2.QueueGetRequest(queue_id=q, n_values=5)).queue_get.values) == [b"1"]
    empty = _one(svc, queue_get=api_pb2.QueueGetRequest(queue_id=q, n_values=5))
    assert empty.WhichOneof("result") == "queue_get" and not empty.queue_get.values

    # A Dict id used as a Queue (and the reverse) is not found, and nothing is written.
    wrong = _one(svc, dict_put=api_pb2.DictPutRequest(dict_id=q, entries=[api_pb2.DictEntry(key=key, value=b"V")]))
    assert wrong.error_kind == "NotFoundError" and svc.store.dict_len(q) == 0
    wrong = _one(svc, queue_put=api_pb2.QueuePutRequest(queue_id=d, values=[b"1"], partition_ttl=60))
    assert wrong.error_kind == "NotFoundError" and svc.store.queue_len(d, None) == 0

    svc.delete(api_pb2.DataObjectDeleteRequest(kind=DICT, object_id=d))
    svc.delete(api_pb2.DataObjectDeleteRequest(kind=QUEUE, object_id=q))
    for op in (
        {"dict_put": api_pb2.DictPutRequest(dict_id=d, entries=[api_pb2.DictEntry(key=key, value=b"V")])},
        {"dict_get": api_pb2.DictGetRequest(dict_id=d, key=key, want_value=True)},
        {"queue_put": api_pb2.QueuePutRequest(queue_id=q, values=[b"1"], partition_ttl=60)},
        {"queue_get": api_pb2.QueueGetRequest(queue_id=q, n_values=1)},
    ):
        result = _one(svc, **op)
        assert result.error_kind == "NotFoundError", op
        assert result.WhichOneof("result") is None  # an error carries no partial answer
    assert svc.store.dict_len(d) == 0 and svc.store.queue_len(q, None) == 0


def test_an_expired_partition_gives_nothing_and_starts_afresh(service: DataService) -> None:
    svc = service
    q = svc.get_or_create(api_pb2.DataObjectGetOrCreateRequest(kind=QUEUE, ephemeral=True))
    svc.store.queue_put(q, b"p", [b"old"], time.time() - 1)  # its TTL ran out a second ago
    svc.store.queue_put(q, b"other", [b"stale"], time.time() - 1)
    assert not _one(svc, queue_get=api_pb2.QueueGetRequest(queue_id=q, partition=b"p", n_values=5)).queue_get.values
    assert svc.store.queue_partition_state(q, b"p") is None  # dropped, with its items
    assert svc.store.queue_partition_state(q, b"other") is None  # every expired partition of the queue

    svc.store.queue_put(q, b"p", [b"old"], time.time() - 1)
    put = _one(svc, queue_put=api_pb2.QueuePutRequest(queue_id=q, partition=b"p", values=[b"new"], partition_ttl=60))
    assert not put.error_kind and not put.queue_put.full
    assert svc.store.queue_len(q, b"p") == 1  # the expired item went before the new one came in
    got = _one(svc, queue_get=api_pb2.QueueGetRequest(queue_id=q, partition=b"p", n_values=5))
    assert list(got.queue_get.values) == [b"new"]


# ---------- end to end, over the blocking and in-flight paths ----------


def test_blocking_ops_on_a_deleted_dict_or_queue_raise_not_found(nodal_server):
    d = modal.Dict.from_name(_name("fp-d"), create_if_missing=True)
    q = modal.Queue.from_name(_name("fp-q"), create_if_missing=True)
    d["k"] = 1
    q.put(1)
    assert d["k"] == 1 and q.get() == 1  # hydrated handles: these went by the blocking path
    modal.Dict.delete(d._name)
    modal.Queue.delete(q._name)
    with pytest.raises(NotFoundError):
        d.get("k")
    with pytest.raises(NotFoundError):
        d["k"] = 2
    with pytest.raises(NotFoundError):
        d.contains("k")
    with pytest.raises(NotFoundError):
        q.put(2)
    with pytest.raises(NotFoundError):
        q.get(block=False)
    with pytest.raises(NotFoundError):
        q.get(timeout=0.5)


def test_a_blocking_put_is_seen_by_another_client_at_once(nodal_server):
    from modal._utils.async_utils import run_sync
    from modal.client import Client, _socket_for_env

    address, autostart = _socket_for_env()
    other = Client(address, autostart=autostart)
    try:
        with modal.Dict.ephemeral() as d, modal.Queue.ephemeral() as q:
            theirs_d = modal.Dict(object_id=d.object_id, client=other)
            theirs_q = modal.Queue(object_id=q.object_id, client=other)
            for i in range(20):
                d[f"k{i}"] = i
                assert theirs_d.get(f"k{i}") == i  # no waiting: answered means committed
                q.put(i)
                assert theirs_q.get(block=False) == i
    finally:
        run_sync(other._close())


def test_ops_in_flight_keep_their_order(nodal_server):
    async def main() -> None:
        async with modal.Queue.ephemeral() as q, modal.Dict.ephemeral() as d:
            await q.put.aio("first")  # hydrates on the SDK loop; the rest go from this loop
            await asyncio.gather(*(q.put.aio(i) for i in range(300)))
            assert await q.get_many.aio(301) == ["first", *range(300)]
            await asyncio.gather(*(d.put.aio("k", i) for i in range(300)))
            assert await d.get.aio("k") == 299  # the last put issued is the last applied
            # gets and puts mixed in flight: each get sees the puts issued before it
            results = await asyncio.gather(*(
                d.put.aio("x", i) if i % 2 == 0 else d.get.aio("x") for i in range(100)
            ))
            assert [results[i] for i in range(1, 100, 2)] == list(range(0, 100, 2))

    asyncio.run(main())
