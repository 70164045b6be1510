"""Classes the Cls.with_options / with_concurrency / with_batching tests run (no test-only imports here)."""

import os
import time

import modal

app = modal.App("nodal-test-cls-options")


@app.cls(env={"CLS_OPT_BASE": "base", "CLS_OPT_MODE": "plain"},
         secrets=[modal.Secret.from_dict({"CLS_OPT_SECRET": "class-secret"})])
class Service:
    tag: str = modal.parameter(default="")

    @modal.method()
    def sleep(self, seconds: float) -> str:
        time.sleep(seconds)  # ok: the method's workload
        return "woke"

    @modal.method()
    def env(self, names: list) -> dict:
        return {n: os.environ.get(n) for n in names}

    @modal.method()
    def read(self, path: str):
        """The text of a file in the container (None if there is none)."""
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return None

    @modal.method()
    def window(self, seconds: float) -> tuple:
        """(start, end, container) of a call, by the container's clock."""
        start = time.time()
        time.sleep(seconds)  # ok: the method's workload
        return start, time.time(), os.environ["MODAL_TASK_ID"]


@app.cls()
class Batcher:
    @modal.batched(max_batch_size=1, wait_ms=0)
    def sizes(self, xs: list) -> list:
        """Each input learns the size of the batch it was delivered in."""
        return [(x, len(xs), os.environ["MODAL_TASK_ID"]) for x in xs]
