"""A function with `enable_memory_snapshot=True` whose module fails to import in its container."""

import os

import modal

app = modal.App("nodal-test-snapshot-broken")

if os.environ.get("MODAL_TASK_ID"):
    raise RuntimeError("this module refuses to load in a container (snapshot test)")


@app.function(enable_memory_snapshot=True)
def never_loads() -> str:
    return "unreachable"
