"""FastAPI endpoints and web methods of a class (no test-only imports here). The image gets
FastAPI, as Modal's documentation asks of users."""

import os

import modal

image = modal.Image.debian_slim().pip_install("fastapi==0.165.0")
app = modal.App("nodal-test-web-fastapi", image=image)

with image.imports():
    from pydantic import BaseModel


class Item(BaseModel):
    name: str
    price: float


@app.function()
@modal.fastapi_endpoint(docs=True)
def greet(name: str = "world", times: int = 1) -> dict:
    """Say hello (query parameters, validated)."""
    return {"greeting": " ".join([f"hello {name}"] * times)}


@app.function()
@modal.fastapi_endpoint(method="POST", label="nodal-test-create-item")
def create(item: Item) -> dict:
    return {"name": item.name, "double": item.price * 2}


@app.cls()
class Shop:
    @modal.enter()
    def open(self) -> None:
        self.opened_by = os.environ.get("MODAL_TASK_ID", "")
        self.greeting = "welcome"

    @modal.fastapi_endpoint()
    def hello(self, who: str = "you") -> dict:
        return {"message": f"{self.greeting}, {who}", "task": self.opened_by}

    @modal.asgi_app()
    def api(self):
        from fastapi import FastAPI

        api = FastAPI()

        @api.get("/state")
        def state() -> dict:
            return {"greeting": self.greeting, "task": self.opened_by}

        return api
