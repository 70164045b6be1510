"""A class whose @exit hook prints, to see it run at shutdown."""

import modal

app = modal.App("nodal-test-exit")


@app.cls()
class WithExit:
    @modal.method()
    def hello(self) -> str:
        return "hi"

    @modal.exit()
    def bye(self):
        print("exit hook ran", flush=True)
