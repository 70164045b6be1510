"""A scheduled function for tests/test_schedules.py: each run records itself in a modal.Dict."""

import os
import time

import modal

app = modal.App("nodal-test-schedules")
fires = modal.Dict.from_name("nodal-test-schedule-fires", create_if_missing=True)


@app.function(schedule=modal.Period(seconds=1))
def tick() -> None:
    fires[f"{time.time():.6f}"] = os.environ.get("MODAL_TASK_ID", "")
