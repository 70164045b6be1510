"""Functions that use the container's terminal through modal.interact() and breakpoint(), for
the interactive tests (no test-only imports here)."""

import modal

app = modal.App("nodal-test-interact")


@app.function()
def ask(question: str) -> str:
    modal.interact()
    return input(question)


@app.function()
def debug(x: int) -> int:
    y = x * 2
    breakpoint()  # the test's frontend types `p y` then `c`
    return y + 1
