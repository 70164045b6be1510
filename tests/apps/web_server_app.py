"""`@modal.web_server` endpoints: the user's own server inside the container (no test-only
imports here)."""

import os
import subprocess
import sys

import modal

app = modal.App("nodal-test-web-server")


@app.function(min_containers=2)
@modal.web_server(8000, startup_timeout=20)
def files():
    os.makedirs("/srv", exist_ok=True)
    with open("/srv/whoami.txt", "w") as f:
        f.write(os.environ["MODAL_TASK_ID"])
    subprocess.Popen([sys.executable, "-m", "http.server", "-d", "/srv", "8000"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@app.function()
@modal.web_server(8001, startup_timeout=1)
def never_listens():
    pass  # starts nothing: the container must fail to start with a clear error
