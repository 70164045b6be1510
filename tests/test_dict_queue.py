"""modal.Dict and modal.Queue against a real server: operations, containers, blocking, restarts, errors."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid

import pytest

import modal
from modal.exception import InvalidError, NotFoundError, RequestSizeError, SerializationError


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def dq_app(nodal_server):
    from apps.dict_queue_app import app

    with app.run():
        yield app


# ---------- Dict ----------


def test_dict_basic_ops(nodal_server):
    name = _name("dict")
    d = modal.Dict.from_name(name, create_if_missing=True)
    assert not d.is_hydrated  # lazy until first use
    d["a"] = 1
    d[(1, 2)] = {"x": [3]}
    assert d.is_hydrated
    assert d["a"] == 1 and d[(1, 2)] == {"x": [3]}
    assert "a" in d and "zz" not in d and d.contains((1, 2))
    assert len(d) == 2 and d.len() == 2
    assert d.get("missing") is None and d.get("missing", 7) == 7
    with pytest.raises(KeyError):
        d["missing"]

    assert d.put("a", 99, skip_if_exists=True) is False and d["a"] == 1
    assert d.put("b", 2, skip_if_exists=True) is True and d.put("b", 3) is True and d["b"] == 3

    d.update({"c": 3}, e=5)
    d.update([("f", 6)])
    assert sorted(d.keys(), key=repr) == sorted(["a", (1, 2), "b", "c", "e", "f"], key=repr)
    assert sorted(d.values(), key=repr) == sorted([1, {"x": [3]}, 3, 3, 5, 6], key=repr)
    assert dict(d.items())["e"] == 5

    assert d.pop("c") == 3
    with pytest.raises(KeyError):
        d.pop("c")
    del d["e"]
    assert "e" not in d
    with pytest.raises(KeyError):
        del d["e"]

    # Another handle to the same name sees the same data.
    other = modal.Dict.from_name(name)
    assert other["a"] == 1 and other.object_id == d.object_id
    d.clear()
    assert len(other) == 0

    modal.Dict.delete(name)
    with pytest.raises(NotFoundError):
        modal.Dict.from_name(name).get("a")


def test_dict_aio_and_ephemeral(nodal_server):
    async def main() -> None:
        async with modal.Dict.ephemeral({"seed": 1}) as d:
            assert await d.get.aio("seed") == 1
            assert await d.put.aio("k", "v") is True
            assert await d.contains.aio("k")
            assert await d.len.aio() == 2
            assert sorted([k async for k in d.keys.aio()]) == ["k", "seed"]
            assert sorted([v async for v in d.values.aio()], key=repr) == sorted([1, "v"], key=repr)
            assert dict([kv async for kv in d.items.aio()]) == {"seed": 1, "k": "v"}
            await d.update.aio(n=3)
            assert await d.pop.aio("n") == 3
            await d.clear.aio()
            assert await d.len.aio() == 0
            kept = d
        with pytest.raises(NotFoundError):  # deleted when the block ended
            await kept.get.aio("seed")

    asyncio.run(main())

    with modal.Dict.ephemeral() as d:
        d["x"] = 1
        assert d["x"] == 1
    with pytest.raises(NotFoundError):
        d.get("x")


def test_dict_lookup_is_deprecated_but_works(nodal_server):
    name = _name("dict")
    with pytest.warns(modal.exception.DeprecationError):
        d = modal.Dict.lookup(name, create_if_missing=True)
    assert d.is_hydrated
    d["k"] = 1
    assert modal.Dict.from_name(name)["k"] == 1
    modal.Dict.delete(name)


def test_dict_bad_input(nodal_server):
    with pytest.raises(NotFoundError):
        modal.Dict.from_name(_name("never-created")).get("a")
    with pytest.raises(NotFoundError):
        modal.Dict.delete(_name("never-created"))
    with pytest.raises(InvalidError):
        modal.Dict.from_name("bad name with spaces")
    with pytest.raises(InvalidError):
        modal.Dict.from_name("")
    with modal.Dict.ephemeral() as d:
        with pytest.raises(SerializationError):
            d[threading.Lock()] = 1
        with pytest.raises(SerializationError):
            d["k"] = threading.Lock()


def test_dict_written_in_container(dq_app):
    from apps.dict_queue_app import write_dict, write_global

    with modal.Dict.ephemeral() as d:
        assert write_dict.remote(d, "from-container", {"n": 1}) == 1
        assert d["from-container"] == {"n": 1}

    # A lazy, never-hydrated handle travels as its name and resolves inside the container.
    name = _name("dict")
    lazy = modal.Dict.from_name(name, create_if_missing=True)
    assert write_dict.remote(lazy, "k", 5) == 1
    assert modal.Dict.from_name(name)["k"] == 5
    modal.Dict.delete(name)

    key = _name("key")
    assert write_global.remote(key, 42) is True
    assert modal.Dict.from_name("nodal-test-dq-global")[key] == 42


# ---------- Queue ----------


def test_queue_basic_ops(nodal_server):
    with modal.Queue.ephemeral() as q:
        q.put("a")
        q.put_many([1, 2, {"x": 3}])
        assert q.len() == 4
        assert q.get() == "a"
        assert q.get_many(2) == [1, 2]
        assert q.get_many(10) == [{"x": 3}]
        assert q.get(block=False) is None
        assert q.get_many(3, block=False) == []
        start = time.monotonic()
        with pytest.raises(queue.Empty):
            q.get(timeout=0.3)
        assert time.monotonic() - start >= 0.25
        with pytest.raises(queue.Empty):
            q.get_many(2, timeout=0)

        # Partitions are independent FIFOs.
        q.put(0)
        q.put(1, partition="foo")
        q.put(2, partition="bar")
        assert q.get(partition="bar") == 2
        assert q.len() == 1 and q.len(partition="foo") == 1 and q.len(total=True) == 2
        q.put(3, partition="foo", partition_ttl=10)
        assert list(q.iterate(partition="foo")) == [1, 3]
        assert q.len(partition="foo") == 2  # iterate leaves items in place
        q.clear(partition="foo")
        assert q.len(partition="foo") == 0 and q.len() == 1
        q.put(4)
        assert list(q.iterate()) == [0, 4]
        q.clear(all=True)
        assert q.len(total=True) == 0


def test_queue_aio_and_named(nodal_server):
    name = _name("queue")

    async def main() -> None:
        q = modal.Queue.from_name(name, create_if_missing=True)
        await q.put.aio(1)
        await q.put_many.aio([2, 3], partition="p")
        assert await q.len.aio(total=True) == 3
        assert [v async for v in q.iterate.aio(partition="p")] == [2, 3]
        assert await q.get_many.aio(5, partition="p") == [2, 3]
        assert await q.get.aio() == 1
        with pytest.raises(queue.Empty):
            await q.get.aio(timeout=0.1)
        await q.clear.aio(all=True)

    asyncio.run(main())
    modal.Queue.from_name(name).put("persisted")
    assert modal.Queue.from_name(name).get() == "persisted"
    modal.Queue.delete(name)
    with pytest.raises(NotFoundError):
        modal.Queue.from_name(name).put(1)


def test_queue_blocking_get_wakes_on_put(nodal_server):
    with modal.Queue.ephemeral() as q:
        got: list = []
        getter = threading.Thread(target=lambda: got.append(q.get(timeout=30)))
        start = time.monotonic()
        getter.start()
        putter = threading.Thread(target=lambda: q.put("wake up"))
        putter.start()
        putter.join(30)
        getter.join(30)
        assert got == ["wake up"]
        assert time.monotonic() - start < 10  # woken by the put, not by its timeout

        # A blocking get with no timeout waits until something arrives, then returns it.
        got.clear()
        getter = threading.Thread(target=lambda: got.append(q.get_many(5, partition="p")))
        getter.start()
        q.put_many([1, 2], partition="p")
        getter.join(30)
        assert got and got[0] and got[0][0] == 1


def test_queue_full_and_blocking_put(nodal_server):
    with modal.Queue.ephemeral() as q:
        q.put_many(list(range(5000)))
        with pytest.raises(queue.Full):
            q.put("x", block=False)
        with pytest.raises(queue.Full):
            q.put("x", timeout=0.2)
        done: list = []
        putter = threading.Thread(target=lambda: done.append(q.put("last", timeout=30)))
        putter.start()
        assert q.get() == 0  # makes room: the waiting put goes in
        putter.join(30)
        assert done == [None]
        assert q.len() == 5000
        q.clear()
        q.put(1, partition="other")  # another partition is unaffected by the full one
        assert q.get(partition="other") == 1


def test_queue_bad_input(nodal_server):
    with pytest.raises(NotFoundError):
        modal.Queue.from_name(_name("never-created")).len()
    with pytest.raises(InvalidError):
        modal.Queue.from_name("no/slashes")
    assert modal.Queue.validate_partition_key(None) == b""
    assert modal.Queue.validate_partition_key("p") == b"p"
    for bad in ("", "x" * 65, "é" * 33):
        with pytest.raises(InvalidError):
            modal.Queue.validate_partition_key(bad)
    with modal.Queue.ephemeral() as q:
        with pytest.raises(InvalidError):
            q.put(1, partition="")
        with pytest.raises(InvalidError):
            q.get(partition="y" * 65)
        with pytest.raises(RequestSizeError):
            q.put(b"x" * (256 * 1024 + 1))
        with pytest.raises(InvalidError):
            q.len(partition="p", total=True)
        with pytest.raises(InvalidError):
            q.clear(partition="p", all=True)
        with pytest.raises(InvalidError):
            q.get(timeout=-1)
        with pytest.raises(InvalidError):
            q.get_many(0)
        with pytest.raises(InvalidError):
            q.put(1, partition_ttl=0)
        with pytest.raises(InvalidError):
            q.put_many(list(range(5001)))
        with pytest.raises(SerializationError):
            q.put(threading.Lock())
        assert q.len(total=True) == 0  # nothing bad got in


def test_queue_in_container(dq_app):
    from apps.dict_queue_app import get_queue, put_queue

    with modal.Queue.ephemeral() as q:
        assert put_queue.remote(q, ["a", "b"], partition="c") == 2
        assert q.get_many(5, partition="c", timeout=10) == ["a", "b"]

        # A container blocked in q.get() wakes when this process puts.
        call = get_queue.spawn(q, 60.0)
        q.put("to the container")
        assert call.get(timeout=60) == "to the container"


# ---------- durability ----------


def test_dict_and_queue_survive_restart(private_server):
    client = private_server.client()
    d = modal.Dict.from_name("durable-dict", create_if_missing=True, client=client)
    d["k"] = {"v": 1}
    d[("tuple", 2)] = "t"
    q = modal.Queue.from_name("durable-queue", create_if_missing=True, client=client)
    q.put_many(["first", "second"])
    q.put("p-item", partition="p")

    private_server.restart()

    client = private_server.client()
    d = modal.Dict.from_name("durable-dict", client=client)
    assert d["k"] == {"v": 1} and d[("tuple", 2)] == "t" and len(d) == 2
    q = modal.Queue.from_name("durable-queue", client=client)
    assert q.len(total=True) == 3
    assert q.get() == "first" and q.get(partition="p") == "p-item"
    q.put("third")  # FIFO order continues after the restart
    assert q.get_many(5) == ["second", "third"]


# ---------- ephemeral objects whose owner is gone ----------


def test_ephemeral_sweep_deletes_unheard_of_objects(tmp_path):
    """Pure server logic: an ephemeral object nobody heartbeats is deleted after the TTL; named ones stay."""
    from nodal.proto import api_pb2
    from nodal.server import dict_queue
    from nodal.server.errors import ApiError
    from nodal.store.backends.sqlite import SqliteMetadataStore

    store = SqliteMetadataStore(tmp_path / "meta.db")
    service = dict_queue.DataService(store)
    kind = api_pb2.DATA_OBJECT_KIND_QUEUE
    ephemeral = service.get_or_create(api_pb2.DataObjectGetOrCreateRequest(kind=kind, ephemeral=True))
    named = service.get_or_create(
        api_pb2.DataObjectGetOrCreateRequest(kind=kind, name="named", create_if_missing=True)
    )
    now = time.time()
    assert service.sweep(now + dict_queue.EPHEMERAL_TTL / 2) == []
    service.heartbeat(ephemeral)
    with pytest.raises(ApiError):
        service.heartbeat(named)  # named objects have no owner to hear from

    # After a restart every ephemeral object gets a fresh TTL: its owner may be reconnecting.
    store.heartbeat_data_object(ephemeral, 0.0)
    service = dict_queue.DataService(store)
    assert service.sweep(time.time()) == []

    assert service.sweep(time.time() + dict_queue.EPHEMERAL_TTL + 1) == [ephemeral]
    assert store.get_data_object(ephemeral) is None and store.get_data_object(named) is not None
    with pytest.raises(ApiError):
        service.heartbeat(ephemeral)
    store.close()


def test_ephemeral_heartbeat_rpc(nodal_server):
    from modal._utils.async_utils import run_sync
    from modal.client import _default_client
    from nodal.proto import api_pb2

    client = run_sync(_default_client())
    with modal.Queue.ephemeral(_heartbeat_sleep=0.05) as q:
        q.put(1)
        run_sync(client.stub.DataObjectHeartbeat(api_pb2.DataObjectHeartbeatRequest(object_id=q.object_id)))
        assert q.get() == 1
    with pytest.raises(NotFoundError):
        run_sync(client.stub.DataObjectHeartbeat(api_pb2.DataObjectHeartbeatRequest(object_id=q.object_id)))


def test_ephemeral_with_bad_initial_data_is_cleaned_up(nodal_server):
    ctx = modal.Dict.ephemeral({"k": threading.Lock()})
    with pytest.raises(SerializationError):
        with ctx:
            pass
    assert ctx._obj is not None  # it was created, then deleted when the initial data failed
    with pytest.raises(NotFoundError):
        ctx._obj.get("k")
