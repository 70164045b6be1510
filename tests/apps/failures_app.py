"""Functions the failure tests stop, kill and cancel from the host (no test-only imports here).

`hold` marks that it started by writing /tmp/started-<token> (the container's private /tmp,
which the host reaches through /proc/<pid>/root), then waits until the host writes
/tmp/release-<token> or `timeout` passes.
"""

import os
import time

import modal

app = modal.App("nodal-test-failures")


def _hold(token: str, timeout: float) -> dict:
    task_id = os.environ.get("MODAL_TASK_ID", "")
    with open(f"/tmp/started-{token}", "w") as f:
        f.write(task_id)
    deadline = time.monotonic() + timeout
    while not os.path.exists(f"/tmp/release-{token}"):
        if time.monotonic() > deadline:
            return {"task_id": task_id, "released": False}
        time.sleep(0.02)  # ok: polling for the release file under the deadline above
    return {"task_id": task_id, "released": True}


@app.function()
def hold(token: str, timeout: float) -> dict:
    return _hold(token, timeout)


@app.function(retries=modal.Retries(max_retries=2, initial_delay=0.1, backoff_coefficient=1.0))
def hold_with_retries(token: str, timeout: float) -> dict:
    return _hold(token, timeout)


@app.function()
def ping() -> str:
    return "pong"


# A second app, started and stopped by the tests themselves: its retries wait 5 s.
slow_retry_app = modal.App("nodal-test-slow-retries")


@slow_retry_app.function(retries=modal.Retries(max_retries=1, initial_delay=5.0, backoff_coefficient=1.0))
def hold_slow_retry(token: str, timeout: float) -> dict:
    return _hold(token, timeout)
