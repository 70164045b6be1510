"""A function that starts a sandbox of its own (no app= inside a container: the function's app)."""

import modal

app = modal.App("nodal-test-sandbox-fn")


@app.function()
def run_in_sandbox(code: str) -> str:
    sb = modal.Sandbox.create("python3", "-c", code)
    sb.wait()
    return sb.stdout.read()
