"""`@modal.fastapi_endpoint` (and the deprecated `web_endpoint`) and web methods of classes, over
real HTTP through the gateway (apps/web_fastapi_app.py, an image with FastAPI installed)."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import pytest
from apps import web_helpers as web


@pytest.fixture(scope="module")
def fastapi_app(nodal_server, require_containers):
    from apps.web_fastapi_app import app

    with app.run():
        yield app


def test_query_parameters_are_validated_as_fastapi_does(fastapi_app):
    from apps.web_fastapi_app import greet

    url = greet.get_web_url()
    assert web.get(url + "/?name=ada&times=2").json() == {"greeting": "hello ada hello ada"}
    assert web.get(url).json() == {"greeting": "hello world"}
    r = web.get(url + "/?times=many")
    assert r.status_code == 422 and "times" in r.text
    assert web.request("POST", url).status_code == 405  # GET only, the default method


def test_post_with_pydantic_body_and_label(fastapi_app):
    from apps.web_fastapi_app import create

    url = create.get_web_url()
    assert url.startswith("http://nodal--nodal-test-create-item-dev.localhost:"), url
    r = web.request("POST", url, json={"name": "pen", "price": 1.25})
    assert r.status_code == 200 and r.json() == {"name": "pen", "double": 2.5}
    assert web.request("POST", url, json={"name": "pen"}).status_code == 422


def test_cors_is_on(fastapi_app):
    from apps.web_fastapi_app import greet

    r = web.request("OPTIONS", greet.get_web_url(), headers={
        "Origin": "http://example.test", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", "http://example.test")
    r = web.get(greet.get_web_url(), headers={"Origin": "http://example.test"})
    assert "access-control-allow-origin" in r.headers


def test_docs_only_when_asked(fastapi_app):
    from apps.web_fastapi_app import create, greet

    r = web.get(greet.get_web_url() + "/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    spec = web.get(greet.get_web_url() + "/openapi.json").json()
    assert "/" in spec["paths"] and "get" in spec["paths"]["/"]
    assert web.get(create.get_web_url() + "/docs").status_code == 404


def test_class_web_methods_share_enter_state(fastapi_app):
    from apps.web_fastapi_app import Shop

    shop = Shop()
    hello_url, api_url = shop.hello.get_web_url(), shop.api.get_web_url()
    assert hello_url.startswith("http://nodal--nodal-test-web-fastapi-shop-hello-dev.localhost:"), hello_url
    assert api_url.startswith("http://nodal--nodal-test-web-fastapi-shop-api-dev.localhost:"), api_url
    a = web.get(hello_url + "/?who=bob").json()
    b = web.get(api_url + "/state").json()
    assert a["message"] == "welcome, bob" and b["greeting"] == "welcome"
    assert a["task"] == b["task"] != "", "both endpoints are served by the class's container"


def test_web_endpoint_is_deprecated_alias():
    import modal
    from modal.exception import DeprecationError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decorator = modal.web_endpoint(method="POST", docs=True)
    assert any(issubclass(w.category, DeprecationError) and "fastapi_endpoint" in str(w.message) for w in caught)
    pf = decorator(lambda x=1: x)
    assert pf.web.kind == "fastapi" and pf.web.http_method == "POST" and pf.web.docs


def test_bad_decorator_arguments_are_refused():
    import modal
    from modal.exception import InvalidError

    with pytest.raises(InvalidError, match="method"):
        modal.fastapi_endpoint(method="FETCH")
    with pytest.raises(InvalidError, match="label"):
        modal.asgi_app(label="Not A Label")
    with pytest.raises(InvalidError, match="port"):
        modal.web_server(70000)
    with pytest.raises(InvalidError, match="no arguments"):
        modal.asgi_app()(lambda x: x)
    with pytest.raises(InvalidError, match="parentheses"):
        modal.asgi_app(lambda: None)
    app = modal.App()
    with pytest.raises(InvalidError, match="only one"):
        app.function()(modal.asgi_app()(modal.wsgi_app()(lambda: None)))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_docs_page_in_headless_chromium(fastapi_app, tmp_path):
    """A real browser resolves *.localhost itself and renders the docs page (its Swagger UI
    scripts come from a CDN, kept unreachable here, so what renders is the page's own HTML)."""
    from apps.web_fastapi_app import greet

    proc = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
         # loopback only: the page's CDN scripts resolve nowhere; *.localhost stays loopback
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE *.localhost",
         "--dump-dom", greet.get_web_url() + "/docs"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<title>FastAPI - Swagger UI</title>" in proc.stdout
    assert "/openapi.json" in proc.stdout
