"""Dict and Queue throughput from one client, with a local Redis server as the peer in the same run.

    .venv/bin/python bench/data.py            # 5,000 put+get pairs per figure
    .venv/bin/python bench/data.py --quick    # 1,000
    .venv/bin/python bench/data.py --server   # only the server's own cost per put+get pair

Each figure counts a put and a get as two operations. "sequential" is one blocking call at a
time (latency-bound: what a simple loop gets); "64 in flight" keeps 64 async calls going from
the same client (`.aio` / redis.asyncio). Both sides talk over a unix socket and store
cloudpickled values. Redis runs in memory (no snapshots, no AOF); Nodal's Dict and Queue are
durable (SQLite, WAL). Uses its own NODAL_HOME (a temp dir) unless NODAL_HOME is set, and stops
every server it started.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONCURRENCY = 64


# ---------- Nodal ----------
def nodal_dict_sequential(n: int) -> float:
    import modal

    with modal.Dict.ephemeral() as d:
        d.put("warm", 0)
        t = time.perf_counter()
        for i in range(n):
            d.put(f"k{i}", {"i": i})
            assert d.get(f"k{i}") == {"i": i}
        return 2 * n / (time.perf_counter() - t)


def nodal_queue_sequential(n: int) -> float:
    import modal

    with modal.Queue.ephemeral() as q:
        q.put(0)
        q.get()
        t = time.perf_counter()
        for i in range(n):
            q.put({"i": i})
            assert q.get() == {"i": i}
        return 2 * n / (time.perf_counter() - t)


async def _in_flight(n: int, one) -> float:
    """Run `one(i)` for i < n with CONCURRENCY calls in flight; operations (2 per call) per second."""
    sem = asyncio.Semaphore(CONCURRENCY)

    async def run(i: int) -> None:
        async with sem:
            await one(i)

    t = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(n)))
    return 2 * n / (time.perf_counter() - t)


def nodal_dict_concurrent(n: int) -> float:
    import modal

    async def main() -> float:
        async with modal.Dict.ephemeral() as d:
            await d.put.aio("warm", 0)

            async def one(i: int) -> None:
                await d.put.aio(f"k{i}", {"i": i})
                assert await d.get.aio(f"k{i}") == {"i": i}

            return await _in_flight(n, one)

    return asyncio.run(main())


def nodal_queue_concurrent(n: int) -> float:
    import modal

    async def main() -> float:
        async with modal.Queue.ephemeral() as q:
            await q.put.aio(0)
            await q.get.aio()

            async def one(i: int) -> None:
                await q.put.aio({"i": i})
                await q.get.aio()  # some item (another task's, perhaps): FIFO across the tasks

            return await _in_flight(n, one)

    return asyncio.run(main())


def nodal_stream_round_trip(n: int) -> float:
    """µs per round trip of one dict_get (a present key) on the calling thread's framed
    DataStream, without the SDK around it: the transport's and the server's floor for one
    blocking call at a time."""
    import modal
    from modal._serialization import serialize
    from nodal.proto import api_pb2

    with modal.Dict.ephemeral() as d:
        d.put("warm", 0)  # connects, and opens this thread's framed stream
        stream = d._client.blocking_stream("DataStream")
        if stream is None:
            raise RuntimeError("the server offers no framed stream socket")
        get = api_pb2.DictGetRequest(dict_id=d.object_id, key=serialize("warm"), want_value=True)
        msg = api_pb2.DataStreamRequest(ops=[api_pb2.DataOp(id=1, dict_get=get)])
        stream.write(msg)
        stream.read()
        t = time.perf_counter()
        for _ in range(n):
            stream.write(msg)
            stream.read()
        return (time.perf_counter() - t) / n * 1e6


# ---------- the server alone ----------
def server_side(n: int, per_message: int) -> dict:
    """µs per put+get pair spent in DataService on a fresh store, `per_message` pairs per stream
    message (one transaction each; 0: each op a message of its own, as a blocking caller sends
    them): the server's share, without the transport or the client."""
    import cloudpickle

    from nodal.proto import api_pb2
    from nodal.server.dict_queue import DICT, QUEUE, DataService
    from nodal.store.backends.sqlite import SqliteMetadataStore

    home = Path(tempfile.mkdtemp(prefix="nodal-bench-store-"))
    store = SqliteMetadataStore(home / "meta.db")
    try:
        svc = DataService(store)
        new = api_pb2.DataObjectGetOrCreateRequest
        d = svc.get_or_create(new(kind=DICT, ephemeral=True))
        q = svc.get_or_create(new(kind=QUEUE, ephemeral=True))
        out = {}
        for kind in ("dict", "queue"):
            messages = []
            for start in range(0, n, per_message or 1):
                ops = []
                for i in range(start, start + (per_message or 1)):
                    key, value = cloudpickle.dumps(f"k{i}"), cloudpickle.dumps({"i": i})
                    if kind == "dict":
                        entry = api_pb2.DictEntry(key=key, value=value)
                        ops.append(api_pb2.DataOp(id=2 * i, dict_put=api_pb2.DictPutRequest(dict_id=d, entries=[entry])))
                        get = api_pb2.DictGetRequest(dict_id=d, key=key, want_value=True)
                        ops.append(api_pb2.DataOp(id=2 * i + 1, dict_get=get))
                    else:
                        put = api_pb2.QueuePutRequest(queue_id=q, values=[value], partition_ttl=3600)
                        ops.append(api_pb2.DataOp(id=2 * i, queue_put=put))
                        ops.append(api_pb2.DataOp(id=2 * i + 1, queue_get=api_pb2.QueueGetRequest(queue_id=q, n_values=1)))
                if per_message:
                    messages.append(ops)
                else:
                    messages.extend([op] for op in ops)
            t = time.perf_counter()
            for ops in messages:
                svc.answer(ops)
            out[kind] = (time.perf_counter() - t) / n * 1e6
        return out
    finally:
        store.close()
        shutil.rmtree(home, ignore_errors=True)


# ---------- Redis ----------
class RedisServer:
    """A redis-server of our own on a unix socket in a temp dir, logging to a file there."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nodal-bench-redis-"))
        self.sock = self.dir / "redis.sock"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.dir / "redis.log", "wb")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", str(self.sock), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(unix_socket_path=str(self.sock)).ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start; see {self.dir / 'redis.log'}") from None
                time.sleep(0.02)  # polling for the socket, with a deadline

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_sequential(sock: Path, n: int) -> dict:
    import cloudpickle
    import redis

    r = redis.Redis(unix_socket_path=str(sock))
    t = time.perf_counter()
    for i in range(n):
        r.set(f"k{i}", cloudpickle.dumps({"i": i}))
        assert cloudpickle.loads(r.get(f"k{i}")) == {"i": i}
    dict_rate = 2 * n / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(n):
        r.rpush("q", cloudpickle.dumps({"i": i}))
        assert cloudpickle.loads(r.lpop("q")) == {"i": i}
    queue_rate = 2 * n / (time.perf_counter() - t)
    r.flushall()
    r.close()
    return {"dict": dict_rate, "queue": queue_rate}


def redis_concurrent(sock: Path, n: int) -> dict:
    import cloudpickle
    import redis.asyncio as aredis

    async def main() -> dict:
        r = aredis.Redis(unix_socket_path=str(sock), max_connections=CONCURRENCY)

        async def dict_one(i: int) -> None:
            await r.set(f"k{i}", cloudpickle.dumps({"i": i}))
            assert cloudpickle.loads(await r.get(f"k{i}")) == {"i": i}

        async def queue_one(i: int) -> None:
            await r.rpush("q", cloudpickle.dumps({"i": i}))
            cloudpickle.loads(await r.lpop("q"))

        out = {"dict": await _in_flight(n, dict_one), "queue": await _in_flight(n, queue_one)}
        await r.flushall()
        await r.aclose()
        return out

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--server", action="store_true", help="only time DataService itself (no gRPC, no client)")
    args = parser.parse_args()
    n = 1_000 if args.quick else 5_000
    if args.server:
        print("µs per put+get pair inside the server (DataService on SQLite; no transport, no client)")
        for per_message in (0, 1, 8, CONCURRENCY):
            r = server_side(n, per_message)
            label = "one op per message" if per_message == 0 else f"{per_message:>3} pairs per message"
            print(f"{label:>22}: Dict {r['dict']:7.0f}   Queue {r['queue']:7.0f}")
        return
    if "NODAL_HOME" not in os.environ:
        os.environ["NODAL_HOME"] = tempfile.mkdtemp(prefix="nodal-bench-")
    from nodal.server import daemon

    started = daemon.server_pid() is None
    if started:
        daemon.start_daemon()
    try:
        nodal = {
            ("dict", "sequential"): nodal_dict_sequential(n),
            ("queue", "sequential"): nodal_queue_sequential(n),
            ("dict", f"{CONCURRENCY} in flight"): nodal_dict_concurrent(n),
            ("queue", f"{CONCURRENCY} in flight"): nodal_queue_concurrent(n),
        }
        bare = nodal_stream_round_trip(n)
    finally:
        if started:
            from modal._utils.async_utils import run_sync
            from modal.client import reset_default_client

            run_sync(reset_default_client())
            daemon.stop_daemon()

    peer: dict | None = None
    skipped = ""
    if shutil.which("redis-server") is None:
        skipped = "redis-server is not installed (Debian: apt-get install redis-server)"
    else:
        try:
            import redis  # noqa: F401
        except ImportError:
            skipped = "the redis client is not installed (pip install -e '.[bench]')"
    if not skipped:
        server = RedisServer()
        server.start()
        try:
            seq = redis_sequential(server.sock, n)
            conc = redis_concurrent(server.sock, n)
        finally:
            server.stop()
        peer = {("dict", "sequential"): seq["dict"], ("queue", "sequential"): seq["queue"],
                ("dict", f"{CONCURRENCY} in flight"): conc["dict"],
                ("queue", f"{CONCURRENCY} in flight"): conc["queue"]}

    print(f"\nDict / Queue put+get from one client, {n:,} pairs per figure (ops/s; a put and a get are 2 ops)")
    print(f"{'figure':<28}{'Nodal':>12}{'Redis':>12}{'Nodal/Redis':>14}")
    for (kind, mode), rate in nodal.items():
        label = f"{kind.capitalize()} {mode}"
        if peer is None:
            print(f"{label:<28}{rate:>12,.0f}{'—':>12}{'—':>14}")
        else:
            other = peer[(kind, mode)]
            print(f"{label:<28}{rate:>12,.0f}{other:>12,.0f}{rate / other:>14.2f}")
    print(f"A bare framed DataStream round trip (one dict_get, no SDK): {bare:,.0f} µs")
    if skipped:
        print(f"Redis peer skipped: {skipped}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
