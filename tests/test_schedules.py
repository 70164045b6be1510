"""Scheduled functions: fired by the server with no client attached, durable across restarts.

Unit tests drive the schedule runner with a fake clock over a real SQLite store; the end-to-end
tests deploy (or `app.run()`) tests/apps/schedule_app.py and watch real runs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import cloudpickle

import modal
from modal._utils.async_utils import run_sync
from modal.runner import deploy_app
from nodal.proto import api_pb2
from nodal.server.schedules import ScheduleRunner, next_due
from nodal.store.backends.sqlite import SqliteMetadataStore
from nodal.store.metadata import AppRecord, FunctionRecord

# ---------- the "what is due" logic, with a fake clock ----------


def _ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _store_with(tmp_path, schedule: modal.Cron | modal.Period, state=api_pb2.APP_STATE_DEPLOYED):
    store = SqliteMetadataStore(tmp_path / "nodal.db")
    store.put_app(AppRecord("ap-1", "sched", "main", state, 1, "sched", "", 0.0))
    d = api_pb2.FunctionDef(tag="f", schedule_json=schedule.to_json())
    store.put_functions([FunctionRecord("fu-1", "ap-1", "f", d.SerializeToString())])
    return store


def test_next_due_period_counts_from_anchor():
    p = modal.Period(seconds=10)
    assert next_due(p, 100.0, None) == 110.0
    assert next_due(p, 100.0, 110.0) == 120.0
    assert next_due(p, 100.0, 113.5) == 120.0  # a late run keeps to the grid
    assert next_due(p, 100.0, 1000.0) == 1010.0  # many missed ticks: just the next one
    m = modal.Period(months=1)
    assert next_due(m, _ts(2024, 1, 31), _ts(2024, 2, 29)) == _ts(2024, 3, 31)


def test_next_due_cron_with_timezone():
    c = modal.Cron("0 9 * * *", timezone="America/New_York")
    after = _ts(2024, 7, 1, 12, 0)  # 08:00 in New York (EDT, UTC-4)
    assert next_due(c, after, None) == _ts(2024, 7, 1, 13, 0)
    assert next_due(c, 0.0, _ts(2024, 7, 1, 13, 0)) == _ts(2024, 7, 2, 13, 0)


def test_cron_fires_each_minute_with_fake_clock(tmp_path):
    store = _store_with(tmp_path, modal.Cron("* * * * *"))
    clock = FakeClock(_ts(2024, 5, 1, 10, 0, 30))
    spawned = []
    runner = ScheduleRunner(store, lambda req: spawned.append(req) or ["ca-x"], clock=clock)
    delay = runner.run_due()
    assert spawned == [] and 0 < delay <= 1.0
    for minute in (1, 2, 3):
        clock.now = _ts(2024, 5, 1, 10, minute, 0)
        runner.run_due()
        runner.run_due()  # nothing more is due at the same instant
        assert len(spawned) == minute
    req = spawned[0]
    assert req.function_id == "fu-1"
    assert cloudpickle.loads(req.input.args.data) == ((), {})


def test_missed_ticks_fire_once_after_restart_and_never_twice(tmp_path):
    store = _store_with(tmp_path, modal.Period(seconds=10))
    clock = FakeClock(1000.0)
    spawned = []
    runner = ScheduleRunner(store, lambda req: spawned.append(req) or ["ca-x"], clock=clock)
    runner.run_due()  # first seen: anchored at 1000
    clock.now = 1010.0
    runner.run_due()
    assert len(spawned) == 1
    store.close()

    # "Restart" 95 s later: nine ticks were missed; they fire once.
    store = SqliteMetadataStore(tmp_path / "nodal.db")
    clock.now = 1105.0
    runner = ScheduleRunner(store, lambda req: spawned.append(req) or ["ca-x"], clock=clock)
    runner.run_due()
    runner.run_due()
    assert len(spawned) == 2
    clock.now = 1110.0  # back on the grid
    runner.run_due()
    assert len(spawned) == 3

    # A second runner (an earlier life still holding stale state) can't fire the same tick again.
    stale = ScheduleRunner(
        SqliteMetadataStore(tmp_path / "nodal.db"),
        lambda req: spawned.append(req) or ["ca-x"],
        clock=FakeClock(1105.0),
    )
    stale.reload()
    stale.entries["fu-1"].last_fire = 1010.0
    stale.entries["fu-1"].due = 1020.0
    stale.clock.now = 1110.0
    stale.run_due()
    assert len(spawned) == 3


def test_stopped_app_does_not_fire(tmp_path):
    store = _store_with(tmp_path, modal.Period(seconds=1))
    clock = FakeClock(100.0)
    spawned = []
    runner = ScheduleRunner(store, lambda req: spawned.append(req) or ["ca-x"], clock=clock)
    runner.run_due()
    app = store.get_app("ap-1")
    app.state = api_pb2.APP_STATE_STOPPED
    store.put_app(app)  # stopped without telling the runner: it still checks before firing
    clock.now = 105.0
    runner.run_due()
    assert spawned == [] and runner.entries == {}


# ---------- end to end: real server, real containers ----------


def _calls(server, function_id: str) -> list[float]:
    """When each call of `function_id` was accepted (the call history in the server's store:
    SQLite or, under NODAL_TEST_STORE=postgres, PostgreSQL)."""
    from conftest_postgres import read_rows, server_database_url

    rows = read_rows(server.home, server_database_url(server),
                     "SELECT created_at FROM calls WHERE function_id = ? ORDER BY created_at", (function_id,))
    return [r[0] for r in rows]


def test_period_fires_under_app_run(nodal_server, wait_until):
    from apps.schedule_app import app, fires

    fires.clear()
    with app.run():
        wait_until(lambda: fires.len() >= 2, timeout=30, what="two scheduled runs under app.run()")


def test_deployed_schedule_fires_without_client_survives_restart(private_server, wait_until):
    from apps.schedule_app import app, tick

    client = private_server.client()
    deploy_app(app, client=client)
    v1 = tick.object_id
    fires = modal.Dict.from_name("nodal-test-schedule-fires", create_if_missing=True, client=client)
    wait_until(
        lambda: len(_calls(private_server, v1)) >= 3 and fires.len() >= 2,
        timeout=30,
        what="scheduled runs of the deployed app",
    )

    # The server is down across several ticks: on start-up the missed run fires once.
    private_server.stop()
    stopped_at = time.time()
    time.sleep(3.5)  # ok: the scenario itself: ~3 ticks pass while no server runs
    before = len(_calls(private_server, v1))
    private_server.start()
    wait_until(lambda: len(_calls(private_server, v1)) >= before + 3, timeout=30, what="runs after the restart")
    after = [t for t in _calls(private_server, v1) if t > stopped_at]
    assert len([t for t in after if t < after[0] + 0.9]) <= 2, after  # not one per missed tick
    everything = _calls(private_server, v1)
    assert len(everything) <= (everything[-1] - everything[0]) + 3, everything  # no double firing

    # A new version replaces the old one's schedule.
    client = private_server.client()
    deploy_app(app, client=client)
    v2 = tick.object_id
    assert v2 != v1
    deployed_at = time.time()
    wait_until(lambda: len(_calls(private_server, v2)) >= 2, timeout=30, what="runs of the new version")
    assert [t for t in _calls(private_server, v1) if t > deployed_at] == []

    # Stopping the app stops its schedule.
    run_sync(client.stub.AppStop(api_pb2.AppStopRequest(app_id=app.app_id)))
    stopped = time.time()
    time.sleep(1.5)  # ok: the observation window: a live Period(seconds=1) would fire in it
    assert [t for t in _calls(private_server, v2) if t > stopped] == []
