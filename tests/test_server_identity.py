"""One server, one lock and one journal, however its URL is spelled.

Two runs at once against one server whose URL was typed two ways (`localhost` and
`127.0.0.1`, a trailing slash, the default port, upper case, `[::1]`) must share the lock, or
both write and layers are stored twice. The spellings are generated: every combination of the
ways a host, a port and a path can be written for one server.
"""

from __future__ import annotations

import itertools
import os

import pytest

from layer_sync.core.errors import LockedError
from layer_sync.remote.identity import THIS_MACHINE, server_identity
from layer_sync.run.lock import RunLock, lock_path
from layer_sync.run.sync import sync_file

from .conftest import API_KEY, write_csv

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "LOCALHOST", "LocalHost.", "[::1]",
                  "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "127.1", "127.0.1", "0x7f.0.0.1",
                  "0177.0.0.1", "2130706433", "0x7f000001", "127.0.0.2", "127.255.255.254",
                  "app.localhost", "localhost.localdomain", "ip6-localhost", "0.0.0.0", "[::]",
                  "%6cocalhost"]
PUBLIC_HOSTS = ["api.atomscale.ai", "API.ATOMSCALE.AI", "api.atomscale.ai.", "Api.AtomScale.Ai."]
IDN_HOSTS = ["bücher.example", "BÜCHER.example", "xn--bcher-kva.example"]
ADDRESS_HOSTS = ["10.0.0.7", "012.0.0.07", "0xa.0.0.7", "167772167", "[::ffff:10.0.0.7]"]
PATHS = ["", "/", "//", "/./", "/a/..", "/x/../"]
API_PATHS = ["/api/v1", "/api/v1/", "/API/V1", "//api//v1//", "/api/./v1/", "/api/x/../v1",
             "/%61pi/v%31/"]


def _spellings(hosts, ports, paths, schemes=("http",), users=("", "lab:secret@")):
    for scheme, user, host, port, path in itertools.product(schemes, users, hosts, ports, paths):
        tail = ["", "?token=abc", "#top"][len(host + path) % 3]
        yield f"{scheme}://{user}{host}{port}{path}{tail}"


@pytest.mark.parametrize("spellings", [
    pytest.param(list(_spellings(LOOPBACK_HOSTS, [":8765"], PATHS, ("http", "HTTP"))), id="loopback"),
    pytest.param(list(_spellings(PUBLIC_HOSTS, ["", ":443"], PATHS, ("https", "HTTPS"))), id="public"),
    pytest.param(list(_spellings(PUBLIC_HOSTS, ["", ":443"], API_PATHS, ("https",))), id="api-path"),
    pytest.param(list(_spellings(IDN_HOSTS, ["", ":80"], PATHS)), id="idn"),
    pytest.param(list(_spellings(ADDRESS_HOSTS, [":8000"], PATHS)), id="address"),
])
def test_every_spelling_of_one_server_is_one_lock_and_one_journal(spellings):
    assert len(spellings) >= 40
    assert len({server_identity(url) for url in spellings}) == 1, \
        sorted({server_identity(url): url for url in spellings}.items())
    paths = {lock_path(url, "/locks") for url in spellings}
    assert len(paths) == 1
    # The journal sits beside the lock: one journal too.
    assert len({p.with_suffix(".journal") for p in paths}) == 1


def test_different_servers_keep_different_locks():
    servers = ["http://127.0.0.1:8765/", "http://127.0.0.1:8766/", "http://127.0.0.1:8765/v2/",
               "https://api.atomscale.ai/", "http://api.atomscale.ai/",
               "https://api.atomscale.ai:8443/", "https://staging.atomscale.ai/",
               "https://api.atomscale.ai/v2/", "http://10.0.0.7:8765/", "http://10.0.0.8:8765/",
               "http://[2001:db8::1]:8765/"]
    assert len({lock_path(url, "/locks") for url in servers}) == len(servers)


def test_loopback_is_one_host():
    assert server_identity("http://localhost:9/") == f"{THIS_MACHINE}:9/"


@pytest.mark.skipif(os.name != "posix", reason="the machine's lock folder")
@pytest.mark.parametrize("spelling", ["http://localhost:{port}", "http://LOCALHOST:{port}/",
                                      "http://[::1]:{port}//", "HTTP://127.1:{port}/./"])
def test_a_run_against_another_spelling_of_a_locked_server_sends_nothing(sandbox, tmp_path,
                                                                         spelling):
    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"}])
    sandbox.stats.reset()
    sheet = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                      [[1, 1, "001"]])
    port = sandbox.url.rstrip("/").rsplit(":", 1)[1]
    # The first run holds the server's lock; the second spells the server another way.
    with RunLock.acquire(sandbox.url), pytest.raises(LockedError):
        sync_file(sheet, api_key=API_KEY, api_url=spelling.format(port=port), report=False,
                  lock_wait=0)
    assert sandbox.stats.by_method == {}
