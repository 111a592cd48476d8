"""The sandbox API over loopback, with a real HTTP client."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from layer_sync.sandbox import Faults, SandboxServer

from .conftest import API_KEY

H = {"X-API-KEY": API_KEY}
LIST_FIELDS = {"id", "sample_id", "sample_name", "substrate", "layer_id", "composition_string",
               "element_dict", "orientation", "space_group", "mp_id", "detail_notes_id",
               "detail_note_content", "sample_metadata", "user_id", "user_name", "version",
               "last_updated"}
LAYER_FIELDS = {"id", "layer_id", "sample_id", "composition_string", "element_dict",
                "orientation", "space_group", "mp_id"}
SAMPLE_FIELDS = {"sample_id", "sample_name", "substrate", "sample_metadata", "detail_notes_id",
                 "user_id", "version", "last_updated"}


def _sample(url: str, name: str = "BTO on STO", substrate: str = "SrTiO3", layers=None) -> dict:
    body: dict = {"sample": {"sample_name": name, "substrate": substrate}}
    if layers is not None:
        body["layers"] = layers
    r = requests.post(url + "target-materials/", json=body, headers=H, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def test_reference_examples_and_answer_shapes(sandbox):
    tm = _sample(sandbox.url)
    assert set(tm) == SAMPLE_FIELDS and tm["sample_name"] == "BTO on STO"
    sid = tm["sample_id"]
    # An empty target material is listed once, with null layer fields.
    listed = requests.get(sandbox.url + "target-materials/", headers=H, timeout=5).json()
    assert len(listed) == 1 and set(listed[0]) == LIST_FIELDS
    assert listed[0]["layer_id"] is None and listed[0]["id"] is None

    r = requests.post(sandbox.url + "target-materials/layers/", headers=H, timeout=5,
                      json={"layer_id": 1, "sample_id": sid, "composition_string": "BaTiO3",
                            "orientation": "001"})
    assert r.status_code == 200
    layer = r.json()
    assert set(layer) == LAYER_FIELDS
    assert layer["element_dict"] == {"Ba": 1, "Ti": 1, "O": 3}  # enrichment
    assert (layer["space_group"], layer["mp_id"]) == ("P4mm", "mp-5020")

    r = requests.patch(sandbox.url + "target-materials/layers/", headers=H, timeout=5,
                       json={"sample_id": sid, "layer_id": 1, "orientation": "111"})
    assert r.status_code == 200
    assert r.json() == {**layer, "orientation": "111"}  # only the field sent changed

    listed = requests.get(sandbox.url + "target-materials/", headers=H, timeout=5).json()
    assert [(e["sample_id"], e["layer_id"], e["orientation"]) for e in listed] == [(sid, 1, "111")]
    assert listed[0]["sample_name"] == "BTO on STO" and listed[0]["substrate"] == "SrTiO3"


def test_the_list_carries_every_value_exactly_in_order(sandbox):
    """The list's JSON is written by SQLite: text of every kind, numbers, objects and nulls
    come back as they were stored, one entry per layer (duplicates in record order), a bare
    target material once."""
    odd = 'quote " back\\slash \t tab \n newline \x01 ctrl \u00e9 \u4e2d \U0001f600 </script>'
    sandbox.store.seed([
        {"id": 7, "sample_id": 3, "sample_name": odd, "substrate": None, "layer_id": 2,
         "composition_string": "La0.7Sr0.3MnO3", "element_dict": {"La": 0.7, "Sr": 0.3, "Mn": 1, "O": 3},
         "orientation": "001", "space_group": odd, "mp_id": None, "user_name": odd},
        {"id": 5, "sample_id": 3, "sample_name": odd, "layer_id": 2, "composition_string": "MgO"},
        {"id": 4, "sample_id": 3, "sample_name": odd, "layer_id": 1, "composition_string": ""},
        {"id": None, "sample_id": 1, "sample_name": "bare", "layer_id": None},
    ])
    listed = requests.get(sandbox.url + "target-materials/", headers=H, timeout=5).json()
    assert [(e["sample_id"], e["layer_id"], e["id"]) for e in listed] == [
        (1, None, None), (3, 1, 4), (3, 2, 5), (3, 2, 7)]
    assert all(set(e) == LIST_FIELDS for e in listed)
    bare, first, _, seventh = listed
    assert bare["element_dict"] is None and bare["sample_metadata"] == {}
    assert seventh["sample_name"] == seventh["space_group"] == seventh["user_name"] == odd
    assert seventh["element_dict"] == {"La": 0.7, "Sr": 0.3, "Mn": 1, "O": 3}
    assert (seventh["substrate"], seventh["mp_id"], seventh["version"]) == (None, None, 1)
    assert first["composition_string"] == "" and first["element_dict"] is None


def test_create_target_material_with_layers(sandbox):
    tm = _sample(sandbox.url, layers=[{"layer_id": 1, "composition_string": "SrTiO3"},
                                      {"layer_id": 2, "composition_string": "(Ba0.5Sr0.5)TiO3"}])
    layers = sandbox.store.layers()
    assert [(l["sample_id"], l["layer_id"]) for l in layers] == [(tm["sample_id"], 1), (tm["sample_id"], 2)]
    assert layers[1]["element_dict"] == {"Ba": 0.5, "Sr": 0.5, "Ti": 1, "O": 3}
    assert layers[1]["space_group"] is None  # only well-known compositions are filled


def test_sent_fields_are_not_overwritten_by_enrichment(sandbox):
    sid = _sample(sandbox.url)["sample_id"]
    r = requests.post(sandbox.url + "target-materials/layers/", headers=H, timeout=5,
                      json={"layer_id": 1, "sample_id": sid, "composition_string": "BaTiO3",
                            "space_group": "P 4 m m", "element_dict": {"Ba": 1, "Ti": 1, "O": 3}})
    assert r.json()["space_group"] == "P 4 m m" and r.json()["mp_id"] == "mp-5020"


@pytest.mark.parametrize("headers", [{}, {"X-API-KEY": "wrong"}])
def test_key_is_checked_on_every_request(sandbox, headers):
    for method, path in [("GET", "target-materials/"), ("POST", "target-materials/"),
                         ("POST", "target-materials/layers/"), ("PATCH", "target-materials/layers/")]:
        r = requests.request(method, sandbox.url + path, headers=headers, json={}, timeout=5)
        assert r.status_code == 401
        assert "detail" in r.json()
    assert sandbox.store.layers() == []


@pytest.mark.parametrize("body,field", [
    ("{not json", "body"),
    (json.dumps({"sample_id": 1}), "layer_id"),
    (json.dumps({"sample_id": 1, "layer_id": "one"}), "layer_id"),
    (json.dumps({"sample_id": "x", "layer_id": 1}), "sample_id"),
    (json.dumps({"sample_id": 1, "layer_id": 1, "orientation": 1}), "orientation"),
    (json.dumps({"sample_id": 1, "layer_id": 1, "element_dict": "Ba:1"}), "element_dict"),
    (json.dumps([1, 2]), "body"),
])
def test_malformed_body_is_422_naming_the_field(sandbox, body, field):
    sid = _sample(sandbox.url)["sample_id"]
    body = body.replace('"sample_id": 1', f'"sample_id": {sid}')
    for method in ("POST", "PATCH"):
        r = requests.request(method, sandbox.url + "target-materials/layers/", data=body,
                             headers={**H, "Content-Type": "application/json"}, timeout=5)
        assert r.status_code == 422
        assert field in r.json()["detail"]
    r = requests.post(sandbox.url + "target-materials/", json={"sample": {}}, headers=H, timeout=5)
    assert r.status_code == 422 and "sample_name" in r.json()["detail"]


def test_unknown_target_material_or_layer_is_404(sandbox):
    sid = _sample(sandbox.url)["sample_id"]
    r = requests.post(sandbox.url + "target-materials/layers/", headers=H, timeout=5,
                      json={"layer_id": 1, "sample_id": 999})
    assert r.status_code == 404 and "999" in r.json()["detail"]
    r = requests.patch(sandbox.url + "target-materials/layers/", headers=H, timeout=5,
                       json={"layer_id": 7, "sample_id": sid, "orientation": "001"})
    assert r.status_code == 404 and "layer 7" in r.json()["detail"]
    assert requests.get(sandbox.url + "nothing/", headers=H, timeout=5).status_code == 404


def test_second_post_of_same_key_stores_a_duplicate(sandbox):
    sid = _sample(sandbox.url)["sample_id"]
    body = {"layer_id": 1, "sample_id": sid, "composition_string": "BaTiO3"}
    a = requests.post(sandbox.url + "target-materials/layers/", json=body, headers=H, timeout=5).json()
    b = requests.post(sandbox.url + "target-materials/layers/", json=body, headers=H, timeout=5).json()
    assert a["id"] != b["id"]
    listed = requests.get(sandbox.url + "target-materials/", headers=H, timeout=5).json()
    assert sorted(e["id"] for e in listed) == sorted([a["id"], b["id"]])


def test_records_survive_a_restart(tmp_path):
    db = tmp_path / "sandbox.db"
    with SandboxServer(api_key=API_KEY, db=db) as first:
        sid = _sample(first.url)["sample_id"]
        requests.post(first.url + "target-materials/layers/", headers=H, timeout=5,
                      json={"layer_id": 1, "sample_id": sid, "composition_string": "SrTiO3"})
    with SandboxServer(api_key=API_KEY, db=db) as second:
        listed = requests.get(second.url + "target-materials/", headers=H, timeout=5).json()
    assert [(e["sample_id"], e["layer_id"], e["composition_string"]) for e in listed] == [(sid, 1, "SrTiO3")]


def test_seed_loads_a_list_shaped_file(tmp_path):
    seed = [
        {"id": 10, "sample_id": 42, "sample_name": "A", "substrate": "Si", "layer_id": 1,
         "composition_string": "BaTiO3", "element_dict": {"Ba": 1, "Ti": 1, "O": 3},
         "orientation": "001", "space_group": "P4mm", "mp_id": "mp-5020"},
        {"id": None, "sample_id": 43, "sample_name": "B", "substrate": "MgO", "layer_id": None},
    ]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    with SandboxServer(api_key=API_KEY, seed=path) as server:
        listed = requests.get(server.url + "target-materials/", headers=H, timeout=5).json()
    assert [(e["id"], e["sample_id"], e["layer_id"]) for e in listed] == [(10, 42, 1), (None, 43, None)]


@pytest.mark.parametrize("body", ['{"sample_metadata": {"y": Infinity}}',
                                  '{"sample_metadata": {"y": NaN}}',
                                  '{"sample_metadata": {"y": 1e400}}'])
def test_numbers_json_cannot_hold_are_422_and_the_list_stays_readable(sandbox, body):
    """NaN, Infinity and numbers past a double's range are refused (SQLite writes the list's
    JSON and could not read them back): before, one such rename made every list answer 500."""
    sid = _sample(sandbox.url)["sample_id"]
    r = requests.patch(f"{sandbox.url}target-materials/{sid}", data=body, timeout=5,
                       headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 422 and "invalid JSON" in r.json()["detail"]
    r = requests.post(sandbox.url + "target-materials/", timeout=5,
                      headers={**H, "Content-Type": "application/json"},
                      data='{"sample": {"sample_name": "X", ' + body[1:-1] + '}}')
    assert r.status_code == 422
    assert requests.get(sandbox.url + "target-materials/", headers=H, timeout=5).status_code == 200


@pytest.mark.parametrize("seed,named", [
    ({"sample_id": 1}, "a seed is a JSON array"),
    ([{"layer_id": 1}], "entry 1: sample_id: field required"),
    ([{"sample_id": 1, "sample_name": {"a": 1}}], "entry 1: sample_name"),
    ([{"sample_id": 1, "version": 10**20}], "entry 1: version"),
    ([{"sample_id": 1, "layer_id": 1.0000000000000002}], "entry 1: layer_id"),
    ([{"sample_id": 1, "layer_id": 1, "id": 5}, {"sample_id": 1, "layer_id": 2, "id": 5}],
     "entry 2: id: record id 5 is given twice"),
    ([{"sample_id": 1, "layer_id": 1, "element_dict": {"O": float("nan")}}], "NaN is not a JSON"),
    ("[1, 2", "invalid JSON"), ("[{\"sample_id\": 1, \"detail_notes_id\": 1e400}]", "invalid JSON"),
])
def test_a_bad_seed_is_one_line_and_exit_2_with_nothing_loaded(tmp_path, seed, named):
    from layer_sync.cli import main

    path = tmp_path / "seed.json"
    path.write_text(seed if isinstance(seed, str) else json.dumps(seed), encoding="utf-8")
    db = tmp_path / "s.db"
    err = io.StringIO()
    code = main(["sandbox", "--port", "0", "--seed", str(path), "--db", str(db)],
                stdout=io.StringIO(), stderr=err)
    assert code == 2
    line = err.getvalue().strip()
    assert line.startswith("layer-sync: error: cannot load the seed") and named in line, line
    assert "internal error" not in line and len(line.splitlines()) == 1
    if db.exists():  # nothing half loaded: the next start seeds afresh
        with SandboxServer(api_key=API_KEY, db=db) as server:
            assert server.store.layers() == [] and server.store.target_materials() == []


def test_a_seed_given_as_a_list_is_checked_too():
    with pytest.raises(ValueError, match="entry 1: element_dict: not storable"):
        SandboxServer(api_key=API_KEY, seed=[{"sample_id": 1, "layer_id": 1,
                                              "element_dict": {"O": float("inf")}}])


def test_a_seed_file_may_start_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "seed.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"sample_id": 1, "sample_name": "A",
                                                    "layer_id": 1}]).encode())
    with SandboxServer(api_key=API_KEY, seed=path) as server:
        assert [l["layer_id"] for l in server.store.layers()] == [1]


def test_fifty_concurrent_posts_give_fifty_records(sandbox):
    sid = _sample(sandbox.url)["sample_id"]
    sandbox.latency_ms = 20  # keep them in flight together
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=50))

    def post(i: int) -> int:
        return session.post(sandbox.url + "target-materials/layers/", headers=H, timeout=10,
                            json={"layer_id": i, "sample_id": sid, "composition_string": "Si"}).status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(post, range(1, 51)))
    assert statuses == [200] * 50
    layers = sandbox.store.layers()
    assert sorted(l["layer_id"] for l in layers) == list(range(1, 51))
    assert len({l["id"] for l in layers}) == 50
    assert sandbox.stats.max_in_flight >= 10


@pytest.mark.parametrize("kind,stored,status", [
    ("429", False, 429), ("500", False, 500), ("502", False, 502), ("503", False, 503),
    ("reset", False, None), ("commit500", True, 500), ("commitreset", True, None),
])
def test_each_fault_kind_as_the_client_sees_it(sandbox, kind, stored, status):
    sid = _sample(sandbox.url)["sample_id"]
    sandbox.faults.inject(kind)
    body = {"layer_id": 1, "sample_id": sid}
    if status is None:
        with pytest.raises(requests.ConnectionError):
            requests.post(sandbox.url + "target-materials/layers/", json=body, headers=H, timeout=5)
    else:
        r = requests.post(sandbox.url + "target-materials/layers/", json=body, headers=H, timeout=5)
        assert r.status_code == status
        if kind == "429":
            assert r.headers["Retry-After"] == "1"
    assert len(sandbox.store.layers()) == (1 if stored else 0)
    assert sandbox.stats.faults == {kind: 1}


def test_slow_fault_stores_then_answers_after_the_timeout(sandbox):
    sid = _sample(sandbox.url)["sample_id"]
    sandbox.faults.slow_seconds = 0.5
    sandbox.faults.inject("slow")
    with pytest.raises(requests.Timeout):
        requests.post(sandbox.url + "target-materials/layers/", headers=H, timeout=0.2,
                      json={"layer_id": 1, "sample_id": sid})
    assert len(sandbox.store.layers()) == 1


def test_random_faults_are_repeatable_with_a_seed():
    def pattern() -> list:
        faults = Faults(rate=0.3, seed=7)
        return [faults.decide("POST") for _ in range(50)]
    assert pattern() == pattern()
    assert any(pattern()) and None in pattern()


def test_latency_is_added_and_overhead_is_small(sandbox):
    session = requests.Session()
    session.get(sandbox.url + "target-materials/", headers=H, timeout=5)  # connect first
    start = time.perf_counter()
    for _ in range(30):
        session.get(sandbox.url + "target-materials/", headers=H, timeout=5)
    bare = (time.perf_counter() - start) / 30
    assert bare < 0.015, f"{bare * 1000:.1f} ms per keep-alive request: Nagle's algorithm?"
    sandbox.latency_ms = 30
    start = time.perf_counter()
    session.get(sandbox.url + "target-materials/", headers=H, timeout=5)
    assert time.perf_counter() - start >= 0.03


def test_command_line_sandbox_serves_and_logs_without_the_key(tmp_path):
    db = tmp_path / "cli.db"
    proc = subprocess.Popen([sys.executable, "-m", "layer_sync", "sandbox", "--port", "0",
                             "--api-key", "secret-k", "--db", str(db)],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        h = {"X-API-KEY": "secret-k"}
        tm = requests.post(url + "target-materials/", json={"sample": {"sample_name": "X"}},
                           headers=h, timeout=5).json()
        r = requests.post(url + "target-materials/layers/", headers=h, timeout=5,
                          json={"layer_id": 1, "sample_id": tm["sample_id"], "composition_string": "MgO"})
        assert r.json()["mp_id"] == "mp-1265"
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=10)[1]
    # Each request's line, whichever the server wrote first.
    assert re.search(r"^POST /target-materials/ 200 \d+\.\d ms", rest, re.M), rest
    assert re.search(r"^POST /target-materials/layers/ 20\d \d+\.\d ms", rest, re.M), rest
    assert "secret-k" not in line + rest
    assert db.exists()


@pytest.mark.parametrize("field,value", [("layer_id", 99999999999999999999), ("layer_id", 2**31),
                                         ("sample_id", -(2**31) - 1), ("id", 2**63)])
def test_integers_the_api_cannot_store_are_422_not_500(sandbox, field, value):
    sid = _sample(sandbox.url)["sample_id"]
    body = {"layer_id": 1, "sample_id": sid, field: value}
    for method in ("POST", "PATCH"):
        r = requests.request(method, sandbox.url + "target-materials/layers/", json=body,
                             headers=H, timeout=5)
        assert r.status_code == 422, r.text
        assert field in r.json()["detail"] and "32-bit" in r.json()["detail"]
    r = requests.post(sandbox.url + "target-materials/", headers=H, timeout=5,
                      json={"sample": {"sample_name": "N"}, "layers": [{"layer_id": 2**40}]})
    assert r.status_code == 422 and "layer_id" in r.json()["detail"]
    assert sandbox.store.layers() == [] and sandbox.stats.by_status.get(500) is None


def test_the_largest_32_bit_integer_is_accepted(sandbox):
    sid = _sample(sandbox.url)["sample_id"]
    r = requests.post(sandbox.url + "target-materials/layers/", headers=H, timeout=5,
                      json={"layer_id": 2**31 - 1, "sample_id": sid})
    assert r.status_code == 200 and r.json()["layer_id"] == 2**31 - 1


def test_echo_key_mode_quotes_the_key_back_in_error_answers():
    with SandboxServer(api_key=API_KEY, echo_key=True) as server:
        sid = _sample(server.url)["sample_id"]
        url = server.url + "target-materials/layers/"
        r = requests.post(url, json={"sample_id": sid}, headers=H, timeout=5)
        assert r.status_code == 422 and API_KEY in r.json()["detail"]
        r = requests.post(url, json={"sample_id": 999, "layer_id": 1}, headers=H, timeout=5)
        assert r.status_code == 404 and API_KEY in r.json()["detail"]
        server.faults.inject("500")
        r = requests.post(url, json={"sample_id": sid, "layer_id": 1}, headers=H, timeout=5)
        assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/html")
        assert API_KEY in r.text
        server.faults.inject("redirect")
        r = requests.post(url, json={"sample_id": sid, "layer_id": 1}, headers=H, timeout=5,
                          allow_redirects=False)
        assert r.status_code == 307 and API_KEY in r.headers["Location"]
        r = requests.get(server.url + "target-materials/", headers={"X-API-KEY": "wrong-key"},
                         timeout=5)
        assert r.status_code == 401 and "wrong-key" in r.json()["detail"]
        assert server.store.layers() == []


def test_without_echo_key_no_answer_quotes_the_key(sandbox):
    sid = _sample(sandbox.url)["sample_id"]
    url = sandbox.url + "target-materials/layers/"
    sandbox.faults.inject("500")
    sandbox.faults.inject("redirect")
    answers = [requests.post(url, json={"sample_id": sid}, headers=H, timeout=5,
                             allow_redirects=False) for _ in range(3)]
    assert [a.status_code for a in answers] == [500, 307, 422]
    assert not any(API_KEY in a.text or API_KEY in a.headers.get("Location", "") for a in answers)


# ---------------------------------------------------------------- PATCH /target-materials/{sample_id}

def test_patch_target_material_changes_only_the_fields_sent(sandbox):
    tm = _sample(sandbox.url, layers=[{"layer_id": 1, "composition_string": "BaTiO3"}])
    sid = tm["sample_id"]
    layers_before = sandbox.store.layers()
    r = requests.patch(sandbox.url + f"target-materials/{sid}", headers=H, timeout=5,
                       json={"sample_name": "BTO on STO (2026)", "sample_id": sid})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == SAMPLE_FIELDS
    assert (answer["sample_id"], answer["sample_name"], answer["substrate"]) == (
        sid, "BTO on STO (2026)", "SrTiO3")
    assert answer["version"] == tm["version"] + 1
    r = requests.patch(sandbox.url + f"target-materials/{sid}/", headers=H, timeout=5,
                       json={"substrate": "MgO", "sample_metadata": {"batch": 7}})
    assert r.status_code == 200 and r.json()["sample_metadata"] == {"batch": 7}
    listed = requests.get(sandbox.url + "target-materials/", headers=H, timeout=5).json()
    assert [(e["sample_name"], e["substrate"], e["layer_id"]) for e in listed] == [
        ("BTO on STO (2026)", "MgO", 1)]
    assert sandbox.store.layers() == layers_before  # the layers are untouched


@pytest.mark.parametrize("path,body,field", [
    ("{sid}", "{not json", "body"),
    ("{sid}", json.dumps([1]), "body"),
    ("{sid}", json.dumps({"sample_name": 5}), "sample_name"),
    ("{sid}", json.dumps({"sample_name": "  "}), "sample_name"),
    ("{sid}", json.dumps({"substrate": ["MgO"]}), "substrate"),
    ("{sid}", json.dumps({"sample_metadata": "x"}), "sample_metadata"),
    ("{sid}", json.dumps({"sample_id": 12345}), "sample_id"),
    ("{sid}", json.dumps({"layers": []}), "layers"),
    ("abc", json.dumps({"sample_name": "N"}), "sample_id"),
    (str(2**31), json.dumps({"sample_name": "N"}), "32-bit"),
])
def test_patch_target_material_malformed_is_422_naming_the_field(sandbox, path, body, field):
    tm = _sample(sandbox.url)
    r = requests.patch(sandbox.url + "target-materials/" + path.format(sid=tm["sample_id"]),
                       data=body, headers={**H, "Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
    assert sandbox.store.target_materials() == [tm]  # nothing changed


def test_patch_target_material_unknown_id_404_key_checked_other_methods_405(sandbox):
    tm = _sample(sandbox.url)
    r = requests.patch(sandbox.url + "target-materials/999", json={"sample_name": "N"},
                       headers=H, timeout=5)
    assert r.status_code == 404 and "999" in r.json()["detail"]
    for headers in ({}, {"X-API-KEY": "wrong"}):
        r = requests.patch(sandbox.url + f"target-materials/{tm['sample_id']}", headers=headers,
                           json={"sample_name": "N"}, timeout=5)
        assert r.status_code == 401
    r = requests.delete(sandbox.url + f"target-materials/{tm['sample_id']}", headers=H, timeout=5)
    assert r.status_code == 405
    assert sandbox.store.target_materials() == [tm]


@pytest.mark.parametrize("kind,stored,status", [("404", False, 404), ("503", False, 503),
                                                ("commit500", True, 500)])
def test_patch_target_material_takes_faults_like_other_writes(sandbox, kind, stored, status):
    sid = _sample(sandbox.url)["sample_id"]
    sandbox.faults.inject(kind, method="PATCH")
    r = requests.patch(sandbox.url + f"target-materials/{sid}", json={"sample_name": "N"},
                       headers=H, timeout=5)
    assert r.status_code == status
    assert sandbox.store.target_materials()[0]["sample_name"] == ("N" if stored else "BTO on STO")


def test_patch_target_material_echo_key_mode_quotes_the_key_in_its_errors():
    with SandboxServer(api_key=API_KEY, echo_key=True) as server:
        sid = _sample(server.url)["sample_id"]
        r = requests.patch(server.url + f"target-materials/{sid}", json={"sample_name": ""},
                           headers=H, timeout=5)
        assert r.status_code == 422 and API_KEY in r.json()["detail"]
        r = requests.patch(server.url + "target-materials/999", json={"sample_name": "N"},
                           headers=H, timeout=5)
        assert r.status_code == 404 and API_KEY in r.json()["detail"]


@pytest.mark.parametrize("seed,named", [
    ([{"sample_id": 1, "sample_name": 10**30}], "entry 1: sample_name"),
    ([{"sample_id": 1, "sample_name": "Good", "layer_id": 1},
      {"sample_id": 2, "sample_name": "Bad \ud800", "layer_id": 1}], "entry 2: sample_name"),
    ([{"sample_id": 1, "layer_id": 1, "element_dict": {"\ud800": 1}}], "entry 1: element_dict"),
])
def test_a_seed_sqlite_cannot_store_is_refused_whole(tmp_path, seed, named):
    db = tmp_path / "s.db"
    with pytest.raises(ValueError, match=named):
        SandboxServer(api_key=API_KEY, db=db, seed=seed)
    with SandboxServer(api_key=API_KEY, db=db, seed=[{"sample_id": 7, "layer_id": 1}]) as server:
        assert [l["sample_id"] for l in server.store.layers()] == [7]  # seeded afresh


@pytest.mark.parametrize("path,body", [
    ("target-materials/layers/", '{"sample_id": 1, "layer_id": 2, "composition_string": "\\ud800"}'),
    ("target-materials/", '{"sample": {"sample_name": "\\ud800"}}'),
])
def test_a_lone_surrogate_in_a_body_is_422_not_500(sandbox, path, body):
    _sample(sandbox.url)
    r = requests.post(sandbox.url + path, data=body, timeout=5,
                      headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 422 and "surrogate" in r.json()["detail"]


# ---------------------------------------------------------------- playing a server's limits

def _get_all_at_once(url: str, count: int) -> list[requests.Response]:
    def get(_: int) -> requests.Response:
        with requests.Session() as session:  # a connection each, as separate clients
            return session.get(url + "target-materials/", headers=H, timeout=10)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(get, range(count)))


def test_capacity_serves_n_at_once_queues_more_and_refuses_past_the_queue():
    with SandboxServer(api_key=API_KEY, capacity=2, queue=1, latency_ms=300) as server:
        started = time.perf_counter()
        answers = _get_all_at_once(server.url, 5)
        took = time.perf_counter() - started
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 200, 200, 503, 503]  # two served, one waited, two refused
        refused = [r for r in answers if r.status_code == 503]
        assert all(r.headers["Retry-After"] == "1" for r in refused)
        assert "the server is full" in refused[0].json()["detail"]
        assert 0.6 <= took < 3  # the one that waited was served after the first two
        assert server.stats.by_status == {200: 3, 503: 2}


def test_the_capacity_s_default_queue_is_as_long_as_the_capacity():
    with SandboxServer(api_key=API_KEY, capacity=2, latency_ms=200) as server:
        statuses = sorted(r.status_code for r in _get_all_at_once(server.url, 6))
    assert statuses == [200, 200, 200, 200, 503, 503]


def test_rate_admits_r_a_second_then_429_with_retry_after():
    with SandboxServer(api_key=API_KEY, rate=5) as server:
        session = requests.Session()
        answers = [session.get(server.url + "target-materials/", headers=H, timeout=5)
                   for _ in range(12)]
    refused = [r for r in answers if r.status_code == 429]
    assert len(refused) >= 2  # twelve at once: a burst of one or two, then five a second
    assert answers[0].status_code == 200 and refused[0].headers["Retry-After"] == "1"
    assert "RateLimit" not in refused[0].headers  # no headers unless asked for


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("form,expected", [
    ("draft", {"RateLimit-Policy": '"default";q=4;w=1', "RateLimit": '"default";r=1;t=1'}),
    ("draft-06", {"RateLimit-Limit": "4", "RateLimit-Remaining": "1", "RateLimit-Reset": "1"}),
    ("x", {"X-RateLimit-Limit": "4", "X-RateLimit-Remaining": "1",
           "X-RateLimit-Reset": "1800000001"}),
    ("none", {}),
])
def test_each_form_of_rate_limit_headers_says_the_limit(form, expected):
    from layer_sync.sandbox.limits import RateLimit

    clock = _Clock()
    limit = RateLimit(4, form, burst=2, clock=clock,
                      wall_clock=lambda: 1_800_000_000.0 + clock.now)
    assert limit.admit() == (True, expected)  # one of two at once taken: one left
    assert limit.admit()[0]
    admitted, headers = limit.admit()  # a third at once: past the burst
    assert not admitted and headers["Retry-After"] == "1"
    clock.now = 0.25  # a quarter second: one more admitted (four a second)
    assert limit.admit()[0] and not limit.admit()[0]


def test_the_rate_is_kept_on_average_and_a_burst_by_default_is_a_quarter_second():
    from layer_sync.sandbox.limits import RateLimit

    clock = _Clock()
    limit = RateLimit(40, clock=clock)
    assert limit.burst == 10
    admitted = 0
    for step in range(400):  # two hundred a second, for two seconds
        clock.now = step / 200
        admitted += limit.admit()[0]
    assert 10 + 79 <= admitted <= 10 + 80  # the burst, then forty a second
    assert RateLimit(0.5, clock=clock).burst == 1


def test_command_line_sandbox_plays_a_server_of_a_capacity_and_a_rate():
    proc = subprocess.Popen([sys.executable, "-m", "layer_sync", "sandbox", "--port", "0",
                             "--api-key", "k", "--capacity", "2", "--queue", "0", "--rate", "50",
                             "--rate-headers", "draft", "--latency-ms", "200", "-q"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        assert "serves 2 at once; admits 50 a second" in line

        def get(_: int) -> requests.Response:
            return requests.get(url + "target-materials/", headers={"X-API-KEY": "k"}, timeout=10)

        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(get, range(3)))
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert sorted(r.status_code for r in answers) == [200, 200, 503]
    assert all(r.headers["RateLimit-Policy"] == '"default";q=50;w=1' for r in answers)
