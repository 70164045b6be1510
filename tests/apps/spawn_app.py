"""A function to spawn many times (the spawn-at-scale tests)."""

import time

import modal

app = modal.App("nodal-test-spawn")


@app.function(max_containers=2)
def slow_square(x: int) -> int:
    time.sleep(0.002)  # ok: the function's workload
    return x * x


@app.function(max_containers=2)
def slower_square(x: int) -> int:
    time.sleep(0.02)  # ok: the function's workload
    return x * x
