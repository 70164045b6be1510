"""The schedule runner fires every schedule due in a pass together: one claim transaction,
one batch of spawns, still never firing a tick twice. Unit tests over a real SQLite store with a
fake clock (the end-to-end firing is in tests/test_schedules.py)."""

from __future__ import annotations

import modal
from nodal.proto import api_pb2
from nodal.server.errors import ApiError
from nodal.server.schedules import LIVE_STATES, ScheduleRunner
from nodal.store.backends.sqlite import SqliteMetadataStore
from nodal.store.metadata import AppRecord, FunctionRecord


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _store(tmp_path, n: int) -> SqliteMetadataStore:
    """Two apps (ap-a deployed, ap-b deployed), n Period(seconds=10) functions each."""
    store = SqliteMetadataStore(tmp_path / "nodal.db")
    for app in ("a", "b"):
        store.put_app(AppRecord(f"ap-{app}", app, "main", api_pb2.APP_STATE_DEPLOYED, 1, app, "", 0.0))
        d = api_pb2.FunctionDef(tag="f", schedule_json=modal.Period(seconds=10).to_json())
        store.put_functions([FunctionRecord(f"fu-{app}{i}", f"ap-{app}", f"f{i}", d.SerializeToString())
                             for i in range(n)])
    return store


class Batches:
    """A spawn_each that records each batch it is given."""

    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    def __call__(self, requests):
        self.batches.append([fid for fid, _ in requests])
        return [ApiError("ExecutionError", "stopped") if fid in self.fail else f"fc-{fid}" for fid, _ in requests]

    @property
    def fired(self) -> list[str]:
        return [fid for batch in self.batches for fid in batch]


def _runner(store, clock, batches) -> ScheduleRunner:
    def no_single_spawns(req):
        raise AssertionError("a pass must spawn through spawn_each")

    return ScheduleRunner(store, no_single_spawns, clock=clock, spawn_each=batches)


def test_all_due_schedules_fire_in_one_batch_with_one_fire_time(tmp_path):
    store = _store(tmp_path, 5)
    clock, batches = FakeClock(1000.0), Batches()
    runner = _runner(store, clock, batches)
    runner.run_due()  # first seen: anchored at 1000, nothing due
    assert batches.batches == []
    clock.now = 1010.004
    runner.run_due()
    assert len(batches.batches) == 1 and sorted(batches.fired) == sorted(runner.entries)
    assert len(batches.fired) == 10
    fires = {fid: store.schedule_state(fid, 0.0)[1] for fid in batches.fired}
    assert set(fires.values()) == {1010.004}  # the moment of the claim, recorded for each
    runner.run_due()  # nothing more due at the same instant
    assert len(batches.batches) == 1
    clock.now = 1020.0
    runner.run_due()
    assert len(batches.batches) == 2 and len(batches.batches[1]) == 10


def test_a_second_runner_with_stale_state_does_not_fire_again(tmp_path):
    store = _store(tmp_path, 3)
    clock = FakeClock(1000.0)
    first, second = Batches(), Batches()
    r1, r2 = _runner(store, clock, first), _runner(store, clock, second)
    r1.run_due()
    r2.run_due()  # both know the same state
    clock.now = 1010.0
    r1.run_due()
    r2.run_due()  # its claims fail: fired already
    assert len(first.fired) == 6 and second.fired == []
    assert all(e.due == 1020.0 for e in r2.entries.values())  # re-planned from the recorded fire


def test_stopped_app_is_not_claimed_even_before_a_reload(tmp_path):
    store = _store(tmp_path, 2)
    clock, batches = FakeClock(1000.0), Batches()
    runner = _runner(store, clock, batches)
    runner.run_due()
    app = store.get_app("ap-b")
    app.state = api_pb2.APP_STATE_STOPPED
    store.put_app(app)  # stopped without telling the runner
    clock.now = 1010.0
    runner.run_due()
    assert sorted(batches.fired) == ["fu-a0", "fu-a1"]
    assert store.schedule_state("fu-b0", 0.0)[1] is None  # no fire recorded for it
    assert sorted(runner.entries) == ["fu-a0", "fu-a1"]


def test_a_spawn_that_fails_for_one_function_leaves_the_others_fired(tmp_path):
    store = _store(tmp_path, 2)
    clock, batches = FakeClock(1000.0), Batches(fail={"fu-a1"})
    runner = _runner(store, clock, batches)
    runner.run_due()
    clock.now = 1010.0
    runner.run_due()
    assert len(batches.fired) == 4
    assert runner._dirty  # the failed one is looked at again at the next reload
    clock.now = 1020.0
    runner.run_due()
    assert len(batches.batches) == 2


def test_claim_schedule_fires_is_compare_and_set(tmp_path):
    store = _store(tmp_path, 2)
    for fid in ("fu-a0", "fu-a1"):
        store.schedule_state(fid, 1000.0)
    live = tuple(LIVE_STATES)
    assert sorted(store.claim_schedule_fires([("fu-a0", None), ("fu-a1", None)], 1010.0, live)) == ["fu-a0", "fu-a1"]
    assert store.claim_schedule_fires([("fu-a0", None), ("fu-a1", 1010.0)], 1020.0, live) == ["fu-a1"]
    assert store.schedule_state("fu-a0", 0.0) == (1000.0, 1010.0)
    assert store.schedule_state("fu-a1", 0.0) == (1000.0, 1020.0)
    assert store.claim_schedule_fires([("fu-missing", None)], 1030.0, live) == []
    assert store.claim_schedule_fires([], 1030.0, live) == []
