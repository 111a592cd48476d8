"""The environment's proxy settings are honoured: a proxy set there is used, and NO_PROXY
naming the API's host bypasses it (a lab behind a proxy, a sandbox on loopback beside it)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from layer_sync.remote.client import ApiClient

from .conftest import API_KEY

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                    "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_settings(monkeypatch):
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def recorder():
    """A loopback HTTP server answering `[]` to everything, keeping each request's target
    (an absolute URL when it is used as a proxy) and headers."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            seen.append((self.path, dict(self.headers)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.seen = seen  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}/"  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_proxy_set_in_the_environment_is_used(recorder, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", recorder.url)
    client = ApiClient("http://api.example.test/", API_KEY)  # reached only through the proxy
    assert client.list_target_materials() == []
    assert [path for path, _ in recorder.seen] == ["http://api.example.test/target-materials/"]


def test_no_proxy_naming_the_apis_host_goes_straight_to_it(recorder, stack, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", recorder.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = ApiClient(stack.url, API_KEY)
    assert [e["layer_id"] for e in client.list_target_materials()] == [1]
    assert recorder.seen == [] and stack.stats.by_method == {"GET": 1}
