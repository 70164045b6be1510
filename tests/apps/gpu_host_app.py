"""Functions for a host with an NVIDIA GPU, in the host's own Python environment (with torch)
as the image (`nodal.ext.host_image`)."""

import os
import sys
import time

import modal
from nodal.ext import host_image

app = modal.App("gpu-host-test")
image = host_image(python=os.environ.get("NODAL_TEST_GPU_PYTHON", sys.executable))
# a build step with a GPU: its commands see the device (nvidia-smi comes with the driver files)
built_on_gpu = image.run_commands("nvidia-smi -L > /opt/gpu-at-build.txt", gpu="any", force_build=True)


@app.function(image=image, gpu="h100")
def torch_view() -> dict:
    import torch

    x = torch.ones(1024, 1024, device="cuda")
    return {
        "count": torch.cuda.device_count(),
        "names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "sum": float((x @ x).sum().item()),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "nodes": sorted(n for n in os.listdir("/dev") if n.startswith("nvidia")),
    }


@app.function(image=image, gpu="H100", max_containers=2)
def hold(seconds: float) -> tuple[float, float, str]:
    import torch

    torch.zeros(1, device="cuda")
    start = time.time()
    time.sleep(seconds)  # holding the GPU is the point of this function
    return start, time.time(), os.environ.get("CUDA_VISIBLE_DEVICES", "")


@app.function(image=image, gpu="any", retries=0)
def crash() -> None:
    import torch

    torch.zeros(1, device="cuda")
    os._exit(3)


@app.function(image=image)
def no_gpu() -> dict:
    return {"nodes": sorted(n for n in os.listdir("/dev") if n.startswith("nvidia")),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


@app.function(image=built_on_gpu)
def build_saw() -> str:
    return open("/opt/gpu-at-build.txt").read()


@app.cls(image=image)
class Model:
    @modal.method()
    def devices(self) -> int:
        import torch

        return torch.cuda.device_count()
