"""Many spawned calls: past the server's in-memory queue they wait in the store (parked), are
loaded as the queue drains, and survive a restart. The server here keeps only 50 in memory."""

from __future__ import annotations

import os
import textwrap

import pytest
from conftest import TESTS_DIR, PrivateServer

N = 600


@pytest.fixture(scope="module")
def small_queue_server(require_containers, tmp_path_factory):
    server = PrivateServer(tmp_path_factory.mktemp("nodal-spawn-home"))
    os.environ["NODAL_SPAWN_MEMORY_QUEUE"] = "50"
    try:
        server.start()
    finally:
        del os.environ["NODAL_SPAWN_MEMORY_QUEUE"]
    yield server
    server.stop()


PRELUDE = f"""
import asyncio, sys
sys.path.insert(0, {str(TESTS_DIR)!r})
import modal
from apps.spawn_app import app, slow_square

async def spawn_all(n):
    calls = await asyncio.gather(*(slow_square.spawn.aio(i) for i in range(n)))
    return [c.object_id for c in calls]
"""


def test_many_spawns_are_all_answered_in_order(small_queue_server):
    code = PRELUDE + textwrap.dedent(f"""
        with app.run():
            ids = asyncio.run(spawn_all({N}))
            results = modal.functions.gather(*[modal.FunctionCall.from_id(i) for i in ids])
            assert results == [i * i for i in range({N})], results[:10]
            print("ok", len(results))
    """)
    proc = small_queue_server.python(code, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"ok {N}" in proc.stdout


def test_parked_spawns_survive_a_restart(small_queue_server):
    deploy = PRELUDE + textwrap.dedent(f"""
        app.deploy(name="spawn-scale")
        f = modal.Function.from_name("spawn-scale", "slower_square")

        async def spawn_deployed():
            return await asyncio.gather(*(f.spawn.aio(i) for i in range({N})))

        print(" ".join(c.object_id for c in asyncio.run(spawn_deployed())))
    """)
    proc = small_queue_server.python(deploy, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = proc.stdout.split()
    assert len(ids) == N
    pending = small_queue_server.python(PRELUDE + textwrap.dedent(f"""
        try:
            modal.FunctionCall.from_id({ids[-1]!r}).get(timeout=0)
            print("done")
        except modal.exception.TimeoutError:
            print("pending")
    """), timeout=120)
    assert pending.stdout.strip() == "pending", "the last call finished before the restart: nothing was tested"
    small_queue_server.restart()  # most of them are still queued, in memory or parked in the store
    collect = PRELUDE + textwrap.dedent(f"""
        ids = {ids!r}
        results = modal.functions.gather(*[modal.FunctionCall.from_id(i) for i in ids])
        assert results == [i * i for i in range({N})], results[:10]
        print("ok", len(results))
    """)
    proc = small_queue_server.python(collect, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"ok {N}" in proc.stdout
