"""Functions that use modal.Dict and modal.Queue from inside containers (tests/test_dict_queue.py)."""

import modal

app = modal.App("nodal-test-dict-queue")

# A module global handle: resolved lazily inside each container that uses it.
shared = modal.Dict.from_name("nodal-test-dq-global", create_if_missing=True)


@app.function()
def write_dict(d: modal.Dict, key: str, value: object) -> int:
    d[key] = value
    return d.len()


@app.function()
def write_global(key: str, value: object) -> bool:
    shared[key] = value
    return key in shared


@app.function()
def put_queue(q: modal.Queue, values: list, partition: str | None = None) -> int:
    q.put_many(values, partition=partition)
    return q.len(partition=partition)


@app.function()
def get_queue(q: modal.Queue, timeout: float) -> object:
    return q.get(timeout=timeout)
