"""Functions with `enable_memory_snapshot=True`, reporting when their module was imported and
when each @enter ran, for the memory snapshot tests (nodal.server.scheduler: a pool holds one
container pre-initialised for its next cold start)."""

import os
import time

import modal

IMPORTED_AT = time.time()  # the heavy part of a cold start: what a snapshot has done already

app = modal.App("nodal-test-snapshots")


@app.cls(enable_memory_snapshot=True, max_inputs=1)
class Model:
    @modal.enter(snap=False)
    def after_restore(self):
        self.events.append(("after", time.time()))

    @modal.enter(snap=True)
    def load(self):
        self.events = [("snap", time.time())]

    @modal.method()
    def report(self) -> dict:
        return {"imported_at": IMPORTED_AT, "events": self.events, "task_id": os.environ.get("MODAL_TASK_ID"),
                "called_at": time.time()}


@app.function(enable_memory_snapshot=True)
def plain() -> dict:
    return {"imported_at": IMPORTED_AT, "task_id": os.environ.get("MODAL_TASK_ID")}
