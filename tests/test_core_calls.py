"""The call path end to end: a real server, real containers, the public SDK."""

from __future__ import annotations

import asyncio
import time

import pytest

import modal
from modal.exception import ExecutionError, FunctionTimeoutError, InvalidError, SerializationError


def test_remote_returns_result(core_app):
    from apps.core_app import square

    assert square.remote(7) == 49


def test_local_runs_in_process(core_app):
    from apps.core_app import square

    assert square.local(3) == 9


def test_async_function_and_aio(core_app):
    from apps.core_app import async_double, square

    assert async_double.remote(21) == 42

    async def run():
        return await square.remote.aio(5), [x async for x in square.map.aio([1, 2, 3])]

    assert asyncio.run(run()) == (25, [1, 4, 9])


def test_map_keeps_order_and_starmap(core_app):
    from apps.core_app import square

    assert list(square.map(range(500))) == [i * i for i in range(500)]
    assert sorted(square.map(range(50), order_outputs=False)) == [i * i for i in range(50)]
    assert list(square.starmap([(2,), (3,)])) == [4, 9]


def test_generator(core_app):
    from apps.core_app import count_to

    assert list(count_to.remote_gen(5)) == [0, 1, 2, 3, 4]
    with pytest.raises(InvalidError):
        count_to.remote(3)


def test_user_exception_comes_back_with_type_and_traceback(core_app):
    from apps.core_app import fail

    with pytest.raises(ValueError, match="boom") as info:
        fail.remote("boom")
    assert any("Remote traceback" in n for n in getattr(info.value, "__notes__", []))
    results = list(fail.map(["a", "b"], return_exceptions=True))
    assert [type(r) for r in results] == [ValueError, ValueError]


def test_runs_in_a_container(core_app):
    from apps.core_app import environment, write_files

    env = environment.remote()
    assert env["is_local"] is False
    assert env["input_id"] and env["input_id"].startswith("in-")
    assert env["call_id"] and env["call_id"].startswith("fc-")
    assert env["task_id"] and env["task_id"].startswith("ta-")
    assert env["secret"] is None
    assert modal.is_local() is True
    out = write_files.remote()
    assert out["data"] == "in container"
    import os

    assert not os.path.exists("/data/out.txt"), "a container's /data write must not land on the host"


def test_secret_injected(core_app):
    from apps.core_app import with_secret

    assert with_secret.remote() == "s3cret"


def test_timeout(core_app):
    from apps.core_app import sleeper

    with pytest.raises(FunctionTimeoutError):
        sleeper.remote(30)
    assert sleeper.remote(0) == "woke"  # a new container replaces the stopped one


def test_retries_then_fails(core_app):
    from apps.core_app import flaky

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="always fails"):
        flaky.remote("x")
    assert time.monotonic() - t0 >= 0.2  # two retries with 0.1 s delay each


def test_nested_call(core_app):
    from apps.core_app import caller

    assert caller.remote(4) == 17


def test_spawn_and_function_call(core_app):
    from apps.core_app import square

    fc = square.spawn(6)
    assert fc.object_id.startswith("fc-")
    assert fc.get(timeout=60) == 36
    assert modal.FunctionCall.from_id(fc.object_id).get() == 36
    calls = [square.spawn(i) for i in range(5)]
    assert modal.functions.gather(*calls) == [0, 1, 4, 9, 16]


def test_spawn_get_poll_times_out(core_app):
    from apps.core_app import sleeper

    fc = sleeper.spawn(1.0)
    with pytest.raises(modal.exception.TimeoutError):
        fc.get(timeout=0)
    assert fc.get(timeout=30) == "woke"


def test_class_with_parameters_and_enter(core_app):
    from apps.core_app import Counter

    c = Counter(start=10)
    assert c.add.remote(5) == 15
    assert c.add.remote(1) == 16  # same warm container keeps its state
    assert Counter().add.remote(1) == 1  # another parameter set: another pool
    with pytest.raises(InvalidError):
        Counter(start="x")
    with pytest.raises(modal.exception.NotFoundError):
        Counter().nope


def test_failing_enter_fails_calls(core_app):
    from apps.core_app import BrokenEnter

    with pytest.raises(RuntimeError, match="enter failed on purpose"):
        BrokenEnter().go.remote()


def test_block_network(core_app):
    from apps.core_app import network_interfaces

    assert network_interfaces.remote() == ["lo"]


def test_remote_outside_running_app(nodal_server):
    app = modal.App("not-running")

    @app.function(serialized=True)
    def g():
        return 1

    with pytest.raises(ExecutionError, match="not running"):
        g.remote()


def test_unserializable_argument_is_named(core_app):
    import threading

    from apps.core_app import square

    with pytest.raises(SerializationError, match="positional argument 0"):
        square.remote(threading.Lock())


def test_bad_options_fail_at_decoration():
    app = modal.App()
    with pytest.raises(InvalidError):
        app.function(cpu=-1)
    with pytest.raises(InvalidError):
        app.function(gpu="NOPE")
    with pytest.raises(InvalidError):
        app.function(retries=99)


def test_exit_hook_runs_when_the_app_stops(nodal_server):
    """@exit runs when containers shut down; its output reaches the app's logs."""
    from apps import exit_app

    from modal._utils.async_utils import run_sync
    from modal.client import Client
    from nodal.proto import api_pb2

    with exit_app.app.run():
        assert exit_app.WithExit().hello.remote() == "hi"
        app_id = exit_app.app.app_id

    async def logs() -> list[str]:
        client = await Client.from_env.aio()
        req = api_pb2.AppLogsRequest(app_id=app_id)
        return [e.data async for e in client.stub.AppLogs.stream(req)]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any("exit hook ran" in line for line in run_sync(logs())):
            return
        time.sleep(0.1)  # polling the log with a deadline
    raise AssertionError("the @exit hook's output never reached the app logs")


def test_sync_function_may_run_its_own_event_loop(core_app):
    from apps.core_app import uses_asyncio_run

    assert uses_asyncio_run.remote(1) == 2
    assert list(uses_asyncio_run.map(range(3))) == [1, 2, 3]
