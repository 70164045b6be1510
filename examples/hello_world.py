"""The smallest Nodal app: run it with `modal run examples/hello_world.py`."""

import sys

import modal

app = modal.App("example-hello-world")


@app.function()
def f(i: int) -> int:
    if i % 2 == 0:
        print("hello", i)
    else:
        print("world", i, file=sys.stderr)
    return i * i


@app.local_entrypoint()
def main() -> None:
    # run the function locally
    print(f.local(1000))

    # run the function remotely, in a container
    print(f.remote(1000))

    # run the function in parallel and remotely
    total = 0
    for ret in f.map(range(200)):
        total += ret
    print(total)
