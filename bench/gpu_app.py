"""The app bench/gpu.py measures: a GPU function that imports torch and allocates a tensor,
in a fresh container per call (max_inputs=1), on the host's own Python environment."""

import os
import sys

import modal
from nodal.ext import host_image

app = modal.App("bench-gpu")
image = host_image(python=os.environ.get("NODAL_BENCH_GPU_PYTHON", sys.executable))

SCRIPT = "import torch; x = torch.ones(1024, 1024, device='cuda'); torch.cuda.synchronize(); print(float(x.sum()))"


@app.function(image=image, gpu="any", max_inputs=1)
def cold() -> float:
    import torch

    x = torch.ones(1024, 1024, device="cuda")
    torch.cuda.synchronize()
    return float(x.sum())


@app.function(image=image, gpu="any", max_inputs=1)
def cold_trivial() -> float:
    return 1.0


@app.function(image=image, max_inputs=1)
def cold_cpu() -> float:
    return 1.0
