"""A function asking for GPUs the host lacks, with a short timeout (for the "queue" fallback)."""

import modal

app = modal.App("gpu-queue-test")


@app.function(gpu=["h100", "a100-80gb:2"], timeout=2)
def short_timeout() -> str:
    return "ran"
