"""Functions and classes the core tests run in real containers (no test-only imports here)."""

import asyncio
import os
import time

import modal

app = modal.App("nodal-test-core")


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
async def async_double(x: int) -> int:
    await asyncio.sleep(0)  # ok: yields once, as async user code does
    return 2 * x


@app.function()
def count_to(n: int):
    yield from range(n)


@app.function()
def fail(message: str) -> None:
    raise ValueError(message)


@app.function()
def environment() -> dict:
    return {
        "is_local": modal.is_local(),
        "input_id": modal.current_input_id(),
        "call_id": modal.current_function_call_id(),
        "task_id": os.environ.get("MODAL_TASK_ID"),
        "secret": os.environ.get("NODAL_TEST_SECRET"),
        "cwd": os.getcwd(),
        "hostname_file": open("/etc/hostname").read() if os.path.exists("/etc/hostname") else "",
    }


@app.function(secrets=[modal.Secret.from_dict({"NODAL_TEST_SECRET": "s3cret"})])
def with_secret() -> str:
    return os.environ.get("NODAL_TEST_SECRET", "")


@app.function()
def write_files() -> dict:
    os.makedirs("/data", exist_ok=True)
    with open("/data/out.txt", "w") as f:
        f.write("in container")
    with open("/tmp/scratch.txt", "w") as f:
        f.write("tmp")
    return {"data": open("/data/out.txt").read(), "root_listing": sorted(os.listdir("/"))}


@app.function(timeout=2)
def sleeper(seconds: float) -> str:
    time.sleep(seconds)  # ok: the function's workload
    return "woke"


@app.function(retries=modal.Retries(max_retries=2, initial_delay=0.1, backoff_coefficient=1.0))
def flaky(marker_dir: str) -> int:
    # Counts attempts in a file inside the container's private /tmp... which is per container,
    # so the attempt count comes back through the exception message instead.
    attempts = int(os.environ.get("NODAL_ATTEMPT", "0"))
    raise RuntimeError(f"always fails {attempts}")


@app.function()
def caller(x: int) -> int:
    return square.remote(x) + 1


@app.function(block_network=True)
def network_interfaces() -> list:
    with open("/proc/net/dev") as f:
        return [line.split(":")[0].strip() for line in f.readlines()[2:]]


@app.cls()
class Counter:
    start: int = modal.parameter(default=0)

    @modal.enter()
    def setup(self):
        self.value = self.start
        self.entered = True

    @modal.method()
    def add(self, n: int) -> int:
        self.value += n
        return self.value

    @modal.method()
    def pid(self) -> int:
        return os.getpid()


@app.cls()
class BrokenEnter:
    @modal.enter()
    def setup(self):
        raise RuntimeError("enter failed on purpose")

    @modal.method()
    def go(self) -> int:
        return 1


@app.function()
def uses_asyncio_run(x: int) -> int:
    async def inner() -> int:
        await asyncio.sleep(0)  # ok: yields once, as async user code does
        return x + 1

    return asyncio.run(inner())
