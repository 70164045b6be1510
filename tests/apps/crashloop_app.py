"""A class whose warm container can never start: @enter fails (it logs each try to a Queue)."""

import time

import modal

app = modal.App("crashloop-test")
tries = modal.Queue.from_name("crashloop-tries", create_if_missing=True)


@app.cls(min_containers=1)
class Broken:
    @modal.enter()
    def start(self) -> None:
        tries.put(time.time())
        raise RuntimeError("this @enter always fails")

    @modal.method()
    def f(self) -> int:
        return 1
