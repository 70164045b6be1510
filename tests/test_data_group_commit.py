"""Group commit on the data stream: the ops of one message share one SQLite transaction, yet each
stays atomic on its own and every acknowledged write is on disk when its answer is built."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cloudpickle
import pytest

from nodal.proto import api_pb2
from nodal.server.dict_queue import DICT, QUEUE, QUEUE_MAX_PARTITION_ITEMS, DataService
from nodal.store.backends.sqlite import SqliteMetadataStore


def _key(k: object) -> bytes:
    return cloudpickle.dumps(k)


def _on_disk(path: Path, sql: str, *args: object) -> list[tuple]:
    """Read through a second connection: sees only committed data."""
    other = sqlite3.connect(str(path))
    try:
        return other.execute(sql, args).fetchall()
    finally:
        other.close()


@pytest.fixture
def service(tmp_path: Path) -> tuple[DataService, Path]:
    path = tmp_path / "meta.db"
    store = SqliteMetadataStore(path)
    yield DataService(store), path
    store.close()


def _new(svc: DataService, kind: int) -> str:
    return svc.get_or_create(api_pb2.DataObjectGetOrCreateRequest(kind=kind, ephemeral=True))


def test_store_transaction_groups_calls_and_nested_failures_undo_only_themselves(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    store = SqliteMetadataStore(path)
    count = "SELECT COUNT(*) FROM dict_entries"
    with store.transaction():
        store.dict_put("di-1", [(b"a", b"1")], 1.0, False, 0.0)
        assert _on_disk(path, count) == [(0,)]  # not committed yet
        with pytest.raises(sqlite3.IntegrityError), store._atomic():
            store.dict_put("di-1", [(b"b", b"2")], 1.0, False, 0.0)
            store.db.execute("INSERT INTO data_objects (object_id, kind, environment, created_at) VALUES ('x', 1, 'e', 0)")
            store.db.execute("INSERT INTO data_objects (object_id, kind, environment, created_at) VALUES ('x', 1, 'e', 0)")
        assert store.dict_put("di-1", [(b"a", b"3")], 1.0, True, 0.0) is False  # skip_if_exists sees "a"
    assert _on_disk(path, "SELECT key, value FROM dict_entries") == [(b"a", b"1")]
    assert _on_disk(path, "SELECT COUNT(*) FROM data_objects") == [(0,)]

    with pytest.raises(RuntimeError), store.transaction():  # an escaping error undoes the whole block
        store.queue_put("qu-1", b"", [b"x", b"y"], 10.0)
        raise RuntimeError("boom")
    assert _on_disk(path, "SELECT COUNT(*) FROM queue_items") == [(0,)]
    assert not store.db.in_transaction
    store.queue_put("qu-1", b"", [b"x"], 10.0)  # and the store works in autocommit again
    assert _on_disk(path, "SELECT COUNT(*) FROM queue_items") == [(1,)]
    store.close()


def test_one_message_is_one_commit_with_answers_in_order(service: tuple[DataService, Path]) -> None:
    svc, path = service
    d, q = _new(svc, DICT), _new(svc, QUEUE)
    ops = [
        api_pb2.DataOp(id=1, dict_put=api_pb2.DictPutRequest(
            dict_id=d, entries=[api_pb2.DictEntry(key=_key("a"), value=b"A")])),
        api_pb2.DataOp(id=2, dict_get=api_pb2.DictGetRequest(dict_id="di-missing", key=_key("a"), want_value=True)),
        api_pb2.DataOp(id=3, dict_get=api_pb2.DictGetRequest(dict_id=d, key=_key("a"), want_value=True)),
        api_pb2.DataOp(id=4, dict_put=api_pb2.DictPutRequest(
            dict_id=d, skip_if_exists=True, entries=[api_pb2.DictEntry(key=_key("a"), value=b"B")])),
        api_pb2.DataOp(id=5, queue_put=api_pb2.QueuePutRequest(queue_id=q, values=[b"1", b"2"], partition_ttl=60)),
        api_pb2.DataOp(id=6, queue_get=api_pb2.QueueGetRequest(queue_id=q, n_values=1)),
        api_pb2.DataOp(id=7, queue_put=api_pb2.QueuePutRequest(queue_id=q, values=[b"3"], partition_ttl=0)),
        api_pb2.DataOp(id=8, queue_len=api_pb2.QueueLenRequest(queue_id=q)),
    ]
    statements: list[str] = []
    svc.store.db.set_trace_callback(statements.append)
    res = svc.answer(ops).results
    svc.store.db.set_trace_callback(None)
    assert statements.count("BEGIN") == 1 and statements.count("COMMIT") == 1  # one transaction
    assert [r.id for r in res] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert res[0].dict_put.created and res[1].error_kind == "NotFoundError"
    assert res[2].dict_get.found and res[2].dict_get.value == b"A"
    assert not res[3].dict_put.created  # skip_if_exists saw the put earlier in the same message
    assert not res[4].queue_put.full and list(res[5].queue_get.values) == [b"1"]
    assert res[6].error_kind == "InvalidError" and res[7].count.count == 1
    assert not svc.store.db.in_transaction
    # Everything acknowledged is committed: a second connection sees it.
    assert _on_disk(path, "SELECT value FROM dict_entries WHERE dict_id = ?", d) == [(b"A",)]
    assert _on_disk(path, "SELECT value FROM queue_items WHERE queue_id = ?", q) == [(b"2",)]


def test_full_partition_in_a_batch_answers_full_and_keeps_the_rest(service: tuple[DataService, Path]) -> None:
    svc, path = service
    q = _new(svc, QUEUE)
    fill = [b"x"] * QUEUE_MAX_PARTITION_ITEMS
    res = svc.answer([
        api_pb2.DataOp(id=1, queue_put=api_pb2.QueuePutRequest(queue_id=q, values=fill, partition_ttl=60)),
        api_pb2.DataOp(id=2, queue_put=api_pb2.QueuePutRequest(queue_id=q, values=[b"y"], partition_ttl=60)),
        api_pb2.DataOp(id=3, queue_get=api_pb2.QueueGetRequest(queue_id=q, n_values=2)),
        api_pb2.DataOp(id=4, queue_put=api_pb2.QueuePutRequest(queue_id=q, values=[b"z"], partition_ttl=60)),
    ]).results
    assert not res[0].queue_put.full and res[1].queue_put.full
    assert len(res[2].queue_get.values) == 2 and not res[3].queue_put.full
    assert _on_disk(path, "SELECT COUNT(*) FROM queue_items WHERE queue_id = ?", q) == [
        (QUEUE_MAX_PARTITION_ITEMS - 1,)
    ]
