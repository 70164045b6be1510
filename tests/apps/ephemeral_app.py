"""An app the lifecycle tests run ephemerally: its output goes to the app log."""

import os

import modal

app = modal.App("nodal-test-ephemeral")


@app.function()
def shout(token: str) -> str:
    print(f"user output {token}", flush=True)
    return os.environ.get("MODAL_TASK_ID", "")
