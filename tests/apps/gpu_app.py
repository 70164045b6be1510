"""Functions that ask for GPUs a host may not have: they run per the server's fallback mode."""

import os

import modal

app = modal.App("gpu-test")


@app.function(gpu="h100")
def where() -> dict:
    return {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "nvidia0": os.path.exists("/dev/nvidia0")}


built_with_gpu = modal.Image.debian_slim().run_commands(
    "ls /dev | grep -c '^nvidia[0-9]' > /gpu-count.txt || true", gpu="h100"
)


@app.function(image=built_with_gpu)
def build_saw() -> str:
    return open("/gpu-count.txt").read().strip()


@app.local_entrypoint()
def main():
    print("first", where.remote())
    print("second", where.remote())
    print("build saw", build_saw.remote(), "gpus")
