"""The app the dashboard benchmark runs (kept free of benchmark imports so containers can import it)."""

import os
import time

import modal

app = modal.App("nodal-bench-dashboard")


@app.function(max_containers=4)
def work(x: int) -> int:
    print(f"work {x}")
    return x


@app.function(min_containers=int(os.environ.get("NODAL_BENCH_WARM", "0") or 0))
def warm(x: int) -> int:
    return x


@app.function()
def flood(seconds: float, rate: int) -> int:
    """Print `rate` lines a second for `seconds` (paced, as a busy app logs)."""
    n = 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while n < due:
            print(f"flood {n} {time.time():.6f}", flush=False)
            n += 1
        time.sleep(0.01)  # ok: pacing the output rate
    print(f"flood done {n}", flush=True)
    return n
