"""The Dict/Queue fast path: many ops in flight over one client's data stream, against a real server."""

from __future__ import annotations

import asyncio
import queue as stdlib_queue

import pytest

import modal
from modal.exception import NotFoundError


def test_many_ops_in_flight_each_get_their_own_result(nodal_server):
    async def scenario() -> None:
        async with modal.Dict.ephemeral() as d, modal.Queue.ephemeral() as q:
            await asyncio.gather(*(d.put.aio(("key", i), {"value": i}) for i in range(300)))
            got = await asyncio.gather(*(d.get.aio(("key", i)) for i in range(300)))
            assert got == [{"value": i} for i in range(300)]
            assert await d.len.aio() == 300
            popped = await asyncio.gather(*(d.pop.aio(("key", i)) for i in range(0, 300, 2)))
            assert popped == [{"value": i} for i in range(0, 300, 2)]
            assert await d.contains.aio(("key", 1)) and not await d.contains.aio(("key", 0))

            await asyncio.gather(*(q.put.aio(i, partition=f"p{i % 3}") for i in range(90)))
            lens = await asyncio.gather(*(q.len.aio(partition=f"p{k}") for k in range(3)))
            assert lens == [30, 30, 30]
            items = await asyncio.gather(*(q.get.aio(block=False, partition="p0") for _ in range(31)))
            assert sorted(i for i in items if i is not None) == list(range(0, 90, 3)) and items.count(None) == 1
            # One client, one stream for all of it.
            client = d._client
            assert client is q._client and not client.__dict__["_nodal_data_stream"].broken

    asyncio.run(scenario())


def test_one_failing_op_does_not_affect_the_others(nodal_server):
    async def scenario() -> None:
        async with modal.Dict.ephemeral() as d:
            gone = modal.Dict.from_name("data-stream-gone", create_if_missing=True)
            await gone.hydrate.aio()
            await modal.Dict.delete.aio("data-stream-gone")
            results = await asyncio.gather(
                d.put.aio("a", 1), gone.get.aio("a"), d.put.aio("b", 2), return_exceptions=True
            )
            assert results[0] is True and results[2] is True
            assert isinstance(results[1], NotFoundError)
            assert await d.get.aio("a") == 1 and await d.get.aio("b") == 2

    asyncio.run(scenario())


def test_cancelled_callers_do_not_strand_others(nodal_server):
    async def scenario() -> None:
        async with modal.Queue.ephemeral() as q:
            tasks = [asyncio.ensure_future(q.put.aio(i)) for i in range(50)]
            await asyncio.sleep(0)  # one loop turn: the calls are under way on the SDK's loop
            tasks[0].cancel()
            tasks[25].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Every op still completes (a cancelled caller's op may or may not have been sent).
            n = await q.len.aio()
            assert 48 <= n <= 50
            # Blocking gets still wait on the server after the fast path finds nothing.
            await q.clear.aio()
            with pytest.raises(stdlib_queue.Empty):
                await q.get.aio(timeout=0.2)
            waiter = asyncio.ensure_future(q.get.aio(timeout=30))
            await q.put.aio("late")
            assert await waiter == "late"

    asyncio.run(scenario())
