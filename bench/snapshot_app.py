"""The memory snapshot benchmark's app: one module whose import is slow (a stand-in for a large
library such as torch), served by a function with a memory snapshot and one without."""

import os
import time

import modal

IMPORT_SECONDS = 1.0
if os.environ.get("MODAL_TASK_ID"):  # in a container only: the client imports this module too
    time.sleep(IMPORT_SECONDS)  # the library's import time

app = modal.App("nodal-bench-snapshots")


@app.function(enable_memory_snapshot=True, max_inputs=1)  # single-use: every call is a cold start
def with_snapshot(x: int) -> int:
    return x


@app.function(max_inputs=1)
def without_snapshot(x: int) -> int:
    return x
