"""A class with deprecated @modal.build methods: what they write is in the image its containers
start from (no test-only imports here)."""

import warnings

import modal

app = modal.App("nodal-test-build")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", modal.exception.DeprecationError)

    @app.cls()
    class Weights:
        version: str = modal.parameter(default="v1")

        @modal.build()
        def download(self):
            with open("/opt/weights.txt", "w") as f:
                f.write(f"weights {self.version}")

        @modal.build()
        @modal.enter()
        def index(self):
            """Stacked with @enter, as in Modal's examples: at build time, and again at start."""
            with open("/opt/weights.txt") as f:
                self.loaded = f.read()
            with open("/opt/index-runs.txt", "a") as f:
                f.write("run\n")

        @modal.method()
        def report(self) -> dict:
            with open("/opt/index-runs.txt") as f:
                runs = f.read().count("run")
            return {"loaded": self.loaded, "index_runs": runs}
