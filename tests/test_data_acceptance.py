"""Issue 4 acceptance items that had no test of their own: Secret constructors seen in a container,
Queue.iterate's item_poll_timeout, blocked gets served in order, Modal objects inside a Dict,
environment_name on every named object, and path traversal in Volume/NFS paths."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest

import modal
from modal.exception import InvalidError, NotFoundError


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---------- Secret constructors, from user code to a container ----------


def test_secret_constructors_reach_a_container(nodal_server, require_containers, tmp_path, monkeypatch):
    # from_dotenv(path): the search starts at the file's directory and walks up to the root.
    (tmp_path / ".env").write_text(
        "# a comment\n"
        "export FROM_DOTENV=walked-up\n"
        "QUOTED=\"with # hash\"\n"
        "SINGLE='single quoted'\n"
        "TRAILING=value # comment\n"
    )
    deep = tmp_path / "pkg" / "sub"
    deep.mkdir(parents=True)
    (deep / "script.py").write_text("")
    # from_dotenv(filename=...): found in the working directory.
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env-dev").write_text("DEV_ONLY=dev\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("NODAL_LOCAL_A", "local-a")
    monkeypatch.setenv("NODAL_LOCAL_B", "local-b")

    secrets = [
        modal.Secret.from_dict({"FROM_DICT": "d", "DROPPED": None}),
        modal.Secret.from_local_environ(["NODAL_LOCAL_A", "NODAL_LOCAL_B"]),
        modal.Secret.from_dotenv(str(deep / "script.py")),
        modal.Secret.from_dotenv(filename=".env-dev"),
    ]
    app = modal.App(_name("secret-ctors"))
    keys = ["FROM_DICT", "DROPPED", "NODAL_LOCAL_A", "NODAL_LOCAL_B", "FROM_DOTENV", "QUOTED", "SINGLE",
            "TRAILING", "DEV_ONLY"]

    @app.function(secrets=secrets, serialized=True)
    def env(names: list) -> dict:

        return {k: os.environ.get(k) for k in names}

    with app.run():
        got = env.remote(keys)
    assert got == {"FROM_DICT": "d", "DROPPED": None, "NODAL_LOCAL_A": "local-a", "NODAL_LOCAL_B": "local-b",
                   "FROM_DOTENV": "walked-up", "QUOTED": "with # hash", "SINGLE": "single quoted",
                   "TRAILING": "value", "DEV_ONLY": "dev"}


def test_secret_constructor_bad_input(tmp_path, monkeypatch):
    monkeypatch.delenv("NODAL_SURELY_UNSET", raising=False)
    with pytest.raises(InvalidError, match="NODAL_SURELY_UNSET"):
        modal.Secret.from_local_environ(["NODAL_SURELY_UNSET"])
    with pytest.raises(InvalidError):
        modal.Secret.from_dict({"K": 1})
    monkeypatch.chdir(tmp_path)  # no .env here or above (tmp dirs have none): an empty secret, as Modal's
    assert modal.Secret.from_dotenv(filename=".env-nowhere-" + uuid.uuid4().hex) is not None


# ---------- Queue ----------


def test_queue_iterate_waits_item_poll_timeout_for_new_items(nodal_server):
    with modal.Queue.ephemeral() as q:
        q.put("first")
        seen: list = []
        first_seen = threading.Event()

        def consume() -> None:
            for item in q.iterate(item_poll_timeout=10):
                seen.append(item)
                first_seen.set()
                if len(seen) == 3:
                    return

        reader = threading.Thread(target=consume)
        reader.start()
        assert first_seen.wait(30)
        q.put_many(["second", "third"])  # arrive while iterate is waiting for a next item
        reader.join(30)
        assert not reader.is_alive() and seen == ["first", "second", "third"]
        # Without new items, iterate ends once item_poll_timeout has passed (here: at once).
        start = time.monotonic()
        assert list(q.iterate(item_poll_timeout=0.5)) == ["first", "second", "third"]
        assert 0.4 <= time.monotonic() - start < 10
        assert q.len() == 3  # iterate takes nothing


def test_two_blocked_gets_are_served_in_order(tmp_path):
    """On the server's queue service: the get that blocked first gets the first item."""
    from nodal.proto import api_pb2
    from nodal.server import dict_queue
    from nodal.store.backends.sqlite import SqliteMetadataStore

    store = SqliteMetadataStore(tmp_path / "meta.db")
    service = dict_queue.DataService(store)
    qid = service.get_or_create(api_pb2.DataObjectGetOrCreateRequest(
        kind=api_pb2.DATA_OBJECT_KIND_QUEUE, name="order", create_if_missing=True))

    async def waiters_blocked(n: int) -> None:
        for _ in range(10_000):  # each round lets the event loop run the getters once more
            event = service._changed.get((qid, b""))
            if event is not None and len(event._waiters) == n:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"{n} getters never blocked")

    async def scenario() -> list:
        get = api_pb2.QueueGetRequest(queue_id=qid, n_values=1, timeout=30)
        first = asyncio.create_task(service.queue_get(get))
        await waiters_blocked(1)
        second = asyncio.create_task(service.queue_get(get))
        await waiters_blocked(2)
        await service.queue_put(api_pb2.QueuePutRequest(queue_id=qid, values=[b"1"], partition_ttl=60))
        done, _ = await asyncio.wait({first, second}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert done == {first} and not second.done()
        await service.queue_put(api_pb2.QueuePutRequest(queue_id=qid, values=[b"2"], partition_ttl=60))
        return [list((await asyncio.wait_for(t, 10)).values) for t in (first, second)]

    try:
        assert asyncio.run(scenario()) == [[b"1"], [b"2"]]
    finally:
        store.close()


def test_queue_partition_count_limit(tmp_path):
    """A queue refuses its 100,001st partition with a clear error and keeps what it had."""
    from nodal.proto import api_pb2
    from nodal.server import dict_queue
    from nodal.server.errors import ApiError
    from nodal.store.backends.sqlite import SqliteMetadataStore

    store = SqliteMetadataStore(tmp_path / "meta.db")
    service = dict_queue.DataService(store)
    qid = service.get_or_create(api_pb2.DataObjectGetOrCreateRequest(
        kind=api_pb2.DATA_OBJECT_KIND_QUEUE, name="many", create_if_missing=True))
    expires = time.time() + 3600
    with store.transaction():
        for i in range(dict_queue.QUEUE_MAX_PARTITIONS):
            store.queue_put(qid, f"p{i}".encode(), [b"x"], expires)

    async def put(partition: bytes) -> api_pb2.QueuePutResponse:
        return await service.queue_put(api_pb2.QueuePutRequest(
            queue_id=qid, partition=partition, values=[b"y"], partition_ttl=60))

    try:
        with pytest.raises(ApiError, match="at most 100000 partitions"):
            asyncio.run(put(b"one-too-many"))
        assert store.queue_len(qid, None) == dict_queue.QUEUE_MAX_PARTITIONS
        assert asyncio.run(put(b"p7")).full is False  # an existing partition still takes items
    finally:
        store.close()


# ---------- Dict holding Modal objects ----------


def test_dict_holds_modal_objects(nodal_server, require_containers):
    app = modal.App(_name("dict-objects"))

    @app.function(serialized=True)
    def forward(d) -> str:
        q = d["queue"]  # a Queue handle stored in the Dict, used inside a container
        q.put("from the container")
        return d[("nested", 1)]["name"]

    with modal.Dict.ephemeral() as d, modal.Queue.ephemeral() as q:
        d["queue"] = q
        d[("nested", 1)] = {"name": "v", "dict": d}
        back = d["queue"]
        assert back.object_id == q.object_id
        back.put("through the dict")
        assert q.get(timeout=10) == "through the dict"
        assert d[("nested", 1)]["dict"].object_id == d.object_id
        with app.run():
            assert forward.remote(d) == "v"
        assert q.get(timeout=10) == "from the container"


# ---------- environments ----------


def test_every_named_object_is_per_environment(nodal_server):
    from modal._utils.async_utils import run_sync
    from modal.client import _default_client
    from nodal.proto import api_pb2

    name = _name("env")
    env = "accept-" + uuid.uuid4().hex[:6]
    # Dict and Queue: one name, one object per environment; "main" is the default.
    d_main = modal.Dict.from_name(name, create_if_missing=True)
    d_main["where"] = "main"
    d_other = modal.Dict.from_name(name, environment_name=env, create_if_missing=True)
    d_other["where"] = env
    assert modal.Dict.from_name(name, environment_name="main")["where"] == "main"
    assert modal.Dict.from_name(name, environment_name=env)["where"] == env
    q_other = modal.Queue.from_name(name, environment_name=env, create_if_missing=True)
    q_other.put(1)
    with pytest.raises(NotFoundError):
        modal.Queue.from_name(name).len()
    assert modal.Queue.from_name(name, environment_name=env).len() == 1
    # Volume.
    v_other = modal.Volume.from_name(name, environment_name=env, create_if_missing=True)
    with v_other.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"other"), "f.txt")
    with pytest.raises(NotFoundError):
        modal.Volume.from_name(name).listdir("/")
    assert b"".join(modal.Volume.from_name(name, environment_name=env).read_file("f.txt")) == b"other"
    # Secret.
    client = run_sync(_default_client())
    run_sync(client.stub.SecretNamedCreate(api_pb2.SecretNamedCreateRequest(
        name=name, environment_name=env, env={"K": "v"})))
    with pytest.raises(NotFoundError):
        modal.Secret.from_name(name).hydrate()
    modal.Secret.from_name(name, environment_name=env).hydrate()
    for cls in (modal.Dict, modal.Queue, modal.Volume):
        cls.delete(name, environment_name=env)
    modal.Dict.delete(name)


# ---------- path traversal ----------


@pytest.mark.parametrize("bad", ["../../etc/passwd", "a/../../etc/passwd", "/../etc/passwd"])
def test_volume_and_nfs_paths_cannot_escape(nodal_server, tmp_path, bad):
    passwd = open("/etc/passwd", "rb").read()
    src = tmp_path / "payload.txt"
    src.write_text("should never land anywhere")
    with modal.Volume.ephemeral() as vol:
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"kept"), "keep.txt")
        before = sorted((e.path, e.size) for e in vol.listdir("/", recursive=True))
        with pytest.raises(InvalidError):
            with vol.batch_upload() as batch:
                batch.put_file(str(src), bad)
        with pytest.raises((InvalidError, FileNotFoundError)):
            b"".join(vol.read_file(bad))
        with pytest.raises((InvalidError, NotFoundError)):
            vol.listdir(bad)
        with pytest.raises(InvalidError):
            vol.remove_file(bad)
        with pytest.raises(InvalidError):
            vol.copy_files(["keep.txt"], bad)
        assert sorted((e.path, e.size) for e in vol.listdir("/", recursive=True)) == before
    with modal.NetworkFileSystem.ephemeral() as nfs:
        with pytest.raises(InvalidError):
            nfs.write_file(bad, io.BytesIO(b"x"))
        with pytest.raises((InvalidError, FileNotFoundError)):
            b"".join(nfs.read_file(bad))
        with pytest.raises(InvalidError):
            nfs.add_local_file(str(src), bad)
        assert nfs.listdir("/*") == []
    assert open("/etc/passwd", "rb").read() == passwd



# ---------- Volume: commits between two running containers ----------


def test_commit_in_one_container_is_seen_after_reload_in_another(nodal_server, require_containers):
    name = _name("vol-two")
    vol = modal.Volume.from_name(name, create_if_missing=True)
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"v1"), "shared.txt")
    app = modal.App(_name("vol-two-containers"))

    @app.function(volumes={"/v": vol}, serialized=True)
    def reader(to_client, from_client) -> list:
        seen = [open("/v/shared.txt").read()]
        to_client.put("ready")
        from_client.get(timeout=60)
        seen.append(open("/v/shared.txt").read())  # still this container's version
        vol.reload()
        seen.append(open("/v/shared.txt").read())
        seen.append(sorted(os.listdir("/v")))
        return seen

    @app.function(volumes={"/v": vol}, serialized=True)
    def writer(file_name: str, text: str, started=None, go=None) -> str:
        with open(f"/v/{file_name}", "w") as f:
            f.write(text)
        if started is None:
            vol.commit()  # explicit; the others are committed when their input finishes
        else:  # held until both writers run: two containers at once
            started.put(file_name)
            go.get(timeout=60)
        return os.environ["MODAL_TASK_ID"]

    try:
        with app.run(), modal.Queue.ephemeral() as to_client, modal.Queue.ephemeral() as from_client, \
                modal.Queue.ephemeral() as started, modal.Queue.ephemeral() as go:
            call = reader.spawn(to_client, from_client)
            assert to_client.get(timeout=60) == "ready"
            writer.remote("shared.txt", "v2")
            calls = [writer.spawn(f, f"from {f}", started, go) for f in ("a.txt", "b.txt")]
            assert sorted([started.get(timeout=60), started.get(timeout=60)]) == ["a.txt", "b.txt"]
            go.put_many(["go", "go"])
            assert len({c.get(timeout=60) for c in calls}) == 2  # two containers committed different files
            from_client.put("go")
            assert call.get(timeout=60) == ["v1", "v1", "v2", ["a.txt", "b.txt", "shared.txt"]]
        assert sorted(e.path for e in vol.listdir("/")) == ["a.txt", "b.txt", "shared.txt"]
    finally:
        modal.Volume.delete(name)


# ---------- the CLI's --env for secrets and volumes ----------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modal.cli.entry", *args], env={**os.environ},
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)


def test_secret_and_volume_cli_take_env(nodal_server):
    name = _name("cli-env")
    env = "cli-" + uuid.uuid4().hex[:6]
    for kind, create in (("secret", ["secret", "create", name, "K=v"]), ("volume", ["volume", "create", name])):
        made = _cli(*create, "--env", env)
        assert made.returncode == 0, made.stderr
        assert name in _cli(kind, "list", "--env", env).stdout
        assert name not in _cli(kind, "list").stdout  # the default environment, main, has no such name
    modal.Secret.from_name(name, environment_name=env).hydrate()
    with pytest.raises(NotFoundError):
        modal.Secret.from_name(name).hydrate()
    assert modal.Volume.from_name(name, environment_name=env).listdir("/") == []
    for kind in ("secret", "volume"):
        extra = ["--yes"] if kind == "volume" else []
        gone = _cli(kind, "delete", name, "--env", env, *extra)
        assert gone.returncode == 0, gone.stderr
        assert name not in _cli(kind, "list", "--env", env).stdout
