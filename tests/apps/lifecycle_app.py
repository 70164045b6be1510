"""A deployable app for the lifecycle tests: deploy, server restart, durable spawns."""

import os
import time

import modal

app = modal.App("nodal-test-deploy")


@app.function()
def add_one(x: int) -> int:
    return x + 1


@app.function()
def slow_add(x: int, seconds: float) -> dict:
    time.sleep(seconds)  # ok: the function's workload
    return {"value": x + 1, "task_id": os.environ.get("MODAL_TASK_ID")}


@app.cls()
class Greeter:
    greeting: str = modal.parameter(default="hello")

    @modal.method()
    def greet(self, name: str) -> str:
        return f"{self.greeting}, {name}"


@app.function(min_containers=1)
def always_warm() -> str:
    return os.environ.get("MODAL_TASK_ID", "")
