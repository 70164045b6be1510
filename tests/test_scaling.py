"""The autoscaler as a user sees it: concurrency, container bounds, warm and idle containers,
batching (apps/scaling_app.py). Containers are counted by their MODAL_TASK_ID."""

from __future__ import annotations

import itertools
import time

import pytest


@pytest.fixture(scope="module")
def scaling_app(nodal_server, require_containers):
    from apps.scaling_app import app

    with app.run():
        yield app


def test_concurrent_inputs_overlap_in_one_container(scaling_app):
    from apps.scaling_app import overlapping

    results = list(overlapping.map([1.0] * 4))
    assert len({task_id for task_id, _, _ in results}) == 1
    latest_start = max(start for _, start, _ in results)
    earliest_end = min(end for _, _, end in results)
    assert latest_start < earliest_end, f"the 4 inputs did not run at the same time: {results}"


def test_max_containers_bounds_the_pool(scaling_app, wait_until):
    from apps.scaling_app import one_at_a_time

    calls = [one_at_a_time.spawn(0.2) for _ in range(6)]
    seen_runners = []

    def all_done() -> bool:
        seen_runners.append(one_at_a_time.get_current_stats().num_total_runners)
        return all(_done(c) for c in calls)

    wait_until(all_done, 60, "the spawned calls to finish")
    results = [c.get(timeout=0) for c in calls]
    assert len({task_id for task_id, _, _ in results}) == 1
    assert max(seen_runners) <= 1
    windows = sorted((start, end) for _, start, end in results)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(windows)), (
        "inputs overlapped"
    )


def _done(call) -> bool:
    import modal

    try:
        call.get(timeout=0)
        return True
    except modal.exception.TimeoutError:
        return False


def test_max_inputs_one_gives_a_fresh_container_per_input(scaling_app):
    from apps.scaling_app import single_use

    task_ids = [single_use.remote(i) for i in range(3)]
    assert len(set(task_ids)) == 3
    assert len(set(single_use.map(range(3)))) == 3


def test_min_containers_keeps_one_warm_before_any_call(scaling_app, wait_until):
    from apps.scaling_app import warm

    wait_until(lambda: warm.get_current_stats().num_total_runners == 1, 30, "a warm container")
    started = time.monotonic()
    assert warm.remote().startswith("ta-")
    assert time.monotonic() - started < 5
    assert warm.get_current_stats().num_total_runners == 1


def test_idle_container_stops_after_scaledown_window(scaling_app, host_containers, wait_until):
    from apps.scaling_app import short_lived

    task_id = short_lived.remote()
    finished = time.monotonic()
    assert short_lived.get_current_stats().num_total_runners == 1
    wait_until(
        lambda: short_lived.get_current_stats().num_total_runners == 0, 20, "the idle container to stop"
    )
    idle = time.monotonic() - finished
    assert idle >= 1.5, f"stopped after {idle:.1f}s idle; the window is 2 s"
    host_containers.wait_gone(task_id, timeout=20)


def test_batched_function_gets_lists(scaling_app):
    from apps.scaling_app import batch_sizes

    results = list(batch_sizes.map(range(8)))
    assert [x for x, _ in results] == list(range(8))
    sizes = [n for _, n in results]
    assert max(sizes) == 4 and all(1 <= n <= 4 for n in sizes), sizes
    assert batch_sizes.remote(42) == (42, 1)  # alone, after waiting wait_ms for company
