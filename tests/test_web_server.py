"""`@modal.web_server(port)`: the user's own server, reached through a relay inside each
container's network namespace (apps/web_server_app.py)."""

from __future__ import annotations

import concurrent.futures

import pytest
from apps import web_helpers as web


@pytest.fixture(scope="module")
def server_app(nodal_server, require_containers):
    from apps.web_server_app import app

    with app.run():
        yield app


def test_http_server_in_the_container(server_app):
    from apps.web_server_app import files

    r = web.get(files.get_web_url() + "/whoami.txt")
    assert r.status_code == 200 and r.text.startswith("ta-")
    listing = web.get(files.get_web_url() + "/")
    assert listing.status_code == 200 and "whoami.txt" in listing.text


def test_two_replicas_of_the_same_port_at_once(server_app, wait_until):
    """min_containers=2: two containers each listen on their own port 8000 and both serve."""
    from apps.web_server_app import files

    url = files.get_web_url() + "/whoami.txt"
    wait_until(lambda: files.get_current_stats().num_total_runners == 2, 60, "two running containers")
    seen: set[str] = set()

    def round_of_requests() -> bool:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            for r in pool.map(lambda _: web.get(url), range(6)):
                assert r.status_code == 200
                seen.add(r.text)
        return len(seen) == 2

    wait_until(round_of_requests, 60, "both replicas to answer")


def test_server_that_never_listens_fails_clearly(server_app, wait_until):
    from apps.web_server_app import never_listens

    r = web.get(never_listens.get_web_url())
    assert r.status_code == 503
    assert "before it was ready" in r.text
    wait_until(lambda: "nothing listened on port 8001 within 1s" in web.app_logs(server_app.app_id), 30,
               "the startup error in the app logs")
