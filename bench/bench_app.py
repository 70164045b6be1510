"""The app the core benchmark calls (kept free of benchmark imports so containers can import it)."""

import modal

app = modal.App("nodal-bench")


@app.function(max_containers=1)
def trivial(x: int) -> int:
    return x


@app.function(max_inputs=1)  # single-use containers: every call is a cold start
def trivial_cold(x: int) -> int:
    return x
