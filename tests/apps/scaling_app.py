"""Functions whose autoscaling options the scaling tests observe (no test-only imports here)."""

import os
import time

import modal

app = modal.App("nodal-test-scaling")


def _task_id() -> str:
    return os.environ.get("MODAL_TASK_ID", "")


@app.function(max_containers=1)
@modal.concurrent(max_inputs=4)
def overlapping(seconds: float) -> tuple:
    start = time.time()
    time.sleep(seconds)  # ok: the function's workload
    return _task_id(), start, time.time()


@app.function(max_containers=1)
def one_at_a_time(seconds: float) -> tuple:
    start = time.time()
    time.sleep(seconds)  # ok: the function's workload
    return _task_id(), start, time.time()


@app.function(max_inputs=1)
def single_use(x: int) -> str:
    return _task_id()


@app.function(min_containers=1)
def warm() -> str:
    return _task_id()


@app.function(scaledown_window=2)
def short_lived() -> str:
    return _task_id()


@app.function()
@modal.batched(max_batch_size=4, wait_ms=1000)
def batch_sizes(xs: list[int]) -> list[tuple]:
    return [(x, len(xs)) for x in xs]
