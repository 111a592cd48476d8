"""The server's list read whole, as a typed record set: a list that says it is paged is
followed to its end or refused before any write; an answer is bounded by what it decodes
into; an odd record makes its layer unplannable, never new."""

from __future__ import annotations

import io
import json
import logging
import random
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layer_sync.cli import main
from layer_sync.core.errors import ApiError
from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import ApiKey
from layer_sync.outcome.rows import Result
from layer_sync.plan.actions import ActionKind
from layer_sync.plan.build import build_plan
from layer_sync.plan.records import ServerIndex
from layer_sync.read.stacks import read_stacks
from layer_sync.remote.answers import Answer
from layer_sync.remote.client import ApiClient
from layer_sync.remote.jsoncost import parsed_cost
from layer_sync.remote.links import next_link
from layer_sync.remote.paging import ListIncomplete, parse_page, read_list
from layer_sync.run.sync import sync_file
from layer_sync.sandbox import Faults, Listing, SandboxServer
from layer_sync.sandbox.listing import ENTRY_SHAPES

from .conftest import API_KEY, write_csv

SAMPLES, LAYERS = 30, 10  # 300 layers
COLUMNS = ["sample_id", "layer_id", "composition_string"]


def _records(samples: int = SAMPLES, layers: int = LAYERS) -> list[dict]:
    return [{"id": 1000 + s * layers + l, "sample_id": s, "sample_name": f"Stack {s}",
             "substrate": "SrTiO3", "layer_id": l, "composition_string": "BaTiO3"}
            for s in range(1, samples + 1) for l in range(1, layers + 1)]


def _sheet(tmp_path, rows=None, name="lab.csv"):
    rows = rows if rows is not None else [[r["sample_id"], r["layer_id"], "BaTiO3"]
                                          for r in _records()]
    return write_csv(tmp_path / name, COLUMNS, rows)


@pytest.fixture
def paged(sandbox):
    """The sandbox holding 300 layers, answering its list in 7 pages of 45."""
    sandbox.store.seed(_records())
    sandbox.listing = Listing(page_size=45)
    sandbox.stats.reset()
    return sandbox


def _sync(server, path, clock=None, **kw):
    kw.setdefault("report", False)
    runtime = Runtime(sleep=clock.sleep, clock=clock.monotonic) if clock else Runtime()
    return sync_file(path, api_key=ApiKey(API_KEY, "ATOMSCALE_API_KEY"), api_url=server.url,
                     runtime=runtime, **kw)


def _cli(args):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _writes(server) -> int:
    return sum(n for m, n in server.stats.by_method.items() if m != "GET")


def _stored_twice(server) -> list[tuple[int, int]]:
    keys = [(layer["sample_id"], layer["layer_id"]) for layer in server.store.layers()]
    return sorted({k for k in keys if keys.count(k) > 1})


# ------------------------------------------------------------------ a paged list, followed

@pytest.mark.parametrize("style", ["link", "offset", "results", "items", "data"])
def test_a_list_of_300_layers_in_7_pages_is_read_whole_and_a_second_run_changes_nothing(
        paged, tmp_path, style):
    """Read as if its first page were all of it, 255 of the 300 layers looked new and were
    created again. Now every page is read, once, and nothing is written."""
    paged.listing = Listing(page_size=45, style=style)
    outcome = _sync(paged, _sheet(tmp_path))
    assert outcome.exit_code == 0, outcome.message
    assert outcome.requests == {"GET": 7} and _writes(paged) == 0
    assert [r.result for r in outcome.results] == [Result.UNCHANGED] * 300
    assert outcome.remote_only == [] and not any("twice" in i.message for i in outcome.issues)


def test_a_first_run_against_a_paged_list_creates_only_what_is_missing_then_converges(
        sandbox, tmp_path):
    sandbox.store.seed([r for r in _records() if r["layer_id"] <= 5])  # half of each stack
    sandbox.listing = Listing(page_size=45, style="results")
    sheet = _sheet(tmp_path)
    first = _sync(sandbox, sheet)
    assert first.exit_code == 0, first.message
    assert first.requests["POST"] == 150 and first.duplicates == 0
    # One read of 4 pages before the writes, one of 7 after them (the read-back).
    assert first.requests["GET"] == 4 + 7
    sandbox.stats.reset()
    again = _sync(sandbox, sheet)
    assert again.exit_code == 0 and again.requests == {"GET": 7} and _writes(sandbox) == 0
    assert len(sandbox.store.layers()) == 300 and _stored_twice(sandbox) == []


def test_the_command_line_reads_a_paged_list_whole(paged, tmp_path):
    code, out, err = _cli(["sync", str(_sheet(tmp_path)), "--api-url", paged.url, "--json",
                           "--report", str(tmp_path / "r.xlsx")])
    line = json.loads(out)
    assert code == 0, err
    assert line["requests"] == {"GET": 7, "POST": 0, "PATCH": 0} and line["unchanged"] == 300


def test_export_reads_every_page_too(paged, tmp_path):
    from layer_sync.tools.export import export_stacks

    exported = tmp_path / "export.csv"
    export_stacks(exported, api_key=API_KEY, api_url=paged.url)
    assert len(exported.read_text(encoding="utf-8").strip().splitlines()) >= 301
    paged.stats.reset()
    again = _sync(paged, exported)  # the export syncs back with nothing to change
    assert again.exit_code == 0 and again.requests == {"GET": 7} and _writes(paged) == 0


def test_records_seen_on_two_pages_are_one_record_not_a_reason_to_write(paged, tmp_path):
    """A page's edge that moves while the list is read (a record added before it) shows one
    record on two pages: it is one record, not one held twice, and nothing is created."""
    paged.listing = Listing(page_size=45, fault="overlap")
    outcome = _sync(paged, _sheet(tmp_path))
    assert outcome.exit_code == 0, outcome.message
    assert outcome.requests["GET"] == 7 and _writes(paged) == 0
    assert not any("twice" in i.message or "times" in i.message for i in outcome.issues)


def test_a_page_that_fails_is_tried_again_as_any_read(paged, tmp_path, clock):
    paged.faults = Faults(rate=0.4, kinds=("503", "reset"), seed=4, methods=frozenset({"GET"}))
    outcome = _sync(paged, _sheet(tmp_path), clock)
    assert outcome.exit_code == 0, outcome.message
    assert outcome.retries > 0 and outcome.requests["GET"] == 7 + outcome.retries
    assert _writes(paged) == 0


def test_a_write_in_doubt_is_looked_for_on_every_page(paged, tmp_path, clock):
    """The re-read before a POST in doubt is sent again is the same whole read: the layer the
    lost answer created sits on the last page, and is found there, not created again."""
    rows = [[r["sample_id"], r["layer_id"], "BaTiO3"] for r in _records()]
    rows.append([SAMPLES, LAYERS + 1, "SrTiO3"])  # the last record of the list
    paged.faults.inject("commit500", count=1, method="POST")
    outcome = _sync(paged, _sheet(tmp_path, rows), clock)
    assert outcome.exit_code == 0, outcome.message
    assert paged.stats.by_method["POST"] == 1 and _stored_twice(paged) == []
    assert outcome.results[-1].result is Result.CREATED


# ------------------------------------------------------------------ refused before any write

NEW_LAYER = [[1, LAYERS + 1, "SrTiO3"]]  # a row that would be written if the list were read


@pytest.mark.parametrize("fault,style,words", [
    ("lying-total", "link", "holds 301 records, but 300 came in 7 pages"),
    ("lying-total", "results", "holds 301 records, but 300 came"),
    ("lying-total", "data", "holds 301 records"),
    ("short", "link", "holds 300 records, but 270 came in 6 pages"),
    ("short", "items", "but 270 came"),
    ("loop", "link", "links back to a page already read"),
    ("loop", "offset", "links back to a page already read"),
    ("stuck", "results", "brought no record that was not on the pages before it"),
    ("stuck", "items", "its pages repeat"),
    ("offhost", "link", "not at the list's own address"),
    ("offhost", "results", "as the key would go with it"),
])
def test_a_paged_list_that_cannot_be_read_whole_stops_the_run_before_any_write(
        paged, tmp_path, fault, style, words):
    paged.listing = Listing(page_size=45, style=style, fault=fault)
    rows = [[r["sample_id"], r["layer_id"], "BaTiO3"] for r in _records()] + NEW_LAYER
    outcome = _sync(paged, _sheet(tmp_path, rows))
    assert outcome.exit_code == 2 and _writes(paged) == 0
    kind, message = outcome.reason
    assert kind == "list_incomplete" and words in message, message
    assert message.startswith("could not read the server's records: ")
    assert "nothing was written" in message
    assert all(r.result is Result.SKIPPED for r in outcome.results)


def test_a_next_link_to_another_host_is_never_followed_so_the_key_stays_home(sandbox, tmp_path):
    """The next page on another host would be asked for with the key in X-API-KEY."""
    sandbox.store.seed(_records())
    with SandboxServer(api_key="other") as elsewhere:
        sandbox.listing = Listing(page_size=45, fault="offhost", elsewhere=elsewhere.url)
        code, out, err = _cli(["sync", str(_sheet(tmp_path)), "--api-url", sandbox.url,
                               "--json", "--report", str(tmp_path / "r.xlsx")])
        assert elsewhere.stats.by_method == {}  # not one request went there
    line = json.loads(out)
    assert code == 2 and line["exit_code"] == 2 and line["reason"]["kind"] == "list_incomplete"
    assert elsewhere.url.rstrip("/") in line["reason"]["message"]
    assert line["requests"] == {"GET": 1, "POST": 0, "PATCH": 0}
    assert err.count("could not read the server's records") == 1 and "Traceback" not in err


def test_the_same_host_on_another_port_or_scheme_is_elsewhere_too():
    answers = {"http://api.test/target-materials/": ["https://api.test/target-materials/?p=2",
                                                     "http://api.test:8080/target-materials/?p=2",
                                                     "http://user@api.test/target-materials/?p=2",
                                                     "http://api.test/other/?p=2",
                                                     "http://api.test.evil/target-materials/"]}
    for target in answers["http://api.test/target-materials/"]:
        get = _pages({"http://api.test/target-materials/": ([{"id": 1}], target)})
        with pytest.raises(ListIncomplete, match="not at the list's own address"):
            read_list(get, "http://api.test/target-materials/", max_cost=1 << 30)
    # The same list, said relatively or with the host's case or default port changed: followed.
    for target in ("?p=2", "/target-materials/?p=2", "HTTP://API.test:80/target-materials?p=2"):
        get = _pages({"http://api.test/target-materials/": ([{"id": 1}], target)})
        assert read_list(get, "http://api.test/target-materials/", max_cost=1 << 30) == [
            {"id": 1}, {"id": 2}]


def _pages(first: dict[str, tuple[list, str]]):
    """A `get` for read_list: the first URL answers its entries with a Link to `target`; any
    other URL answers `[{"id": 2}]` and ends the list."""

    def get(url: str) -> Answer:
        if url in first:
            entries, target = first[url]
            return Answer(entries, 200, 1, headers={"Link": f'<{target}>; rel="next"'})
        return Answer([{"id": 2}], 200, 1)

    return get


def test_a_list_of_more_pages_than_the_bound_is_refused():
    def get(url: str) -> Answer:
        number = int(url.rpartition("=")[2]) if "=" in url else 1
        return Answer([{"id": number}], 200, 1,
                      headers={"Link": f"<http://a.test/l/?page={number + 1}>; rel=next"})

    with pytest.raises(ListIncomplete, match="more than 50 pages"):
        read_list(get, "http://a.test/l/", max_cost=1 << 30, max_pages=50)


def test_a_list_of_more_records_than_a_run_reads_is_refused_as_it_comes():
    """Small records cost the plan more than their text says: past the bound, the list is
    refused after the page that passes it, before the plan holds any of it."""

    def get(url: str) -> Answer:
        number = int(url.rpartition("=")[2]) if "=" in url else 1
        return Answer([{"id": number * 10 + i} for i in range(10)], 200, 1,
                      headers={"Link": f"<http://a.test/l/?page={number + 1}>; rel=next"})

    with pytest.raises(ApiError, match="holds more than 25 records") as caught:
        read_list(get, "http://a.test/l/", max_cost=1 << 30, max_entries=25)
    assert caught.value.kind == "answer_too_large"


def test_the_new_reasons_are_documented_words():
    from layer_sync.outcome.jsonline import REASONS

    assert {"list_incomplete", "answer_too_large"} <= set(REASONS)


def test_the_key_in_a_next_link_is_never_shown():
    key = "k-3f9a-77c1-secret"
    get = _pages({"http://a.test/l/": ([{"id": 1}], f"http://b.test/l/?api_key={key}")})
    with pytest.raises(ListIncomplete) as caught:
        read_list(get, "http://a.test/l/", max_cost=1 << 30,
                  clean=lambda text: text.replace(key, "***"))
    assert key not in str(caught.value) and "api_key=***" in str(caught.value)


# ------------------------------------------------------------------ what a page says

LINKS = [
    ('<http://a.test/l/?page=2>; rel="next"', ["http://a.test/l/?page=2"]),
    ("<http://a.test/l/?page=2>; rel=next", ["http://a.test/l/?page=2"]),
    ('<http://a.test/l/?page=2> ; type="application/json" ; REL = "next"',
     ["http://a.test/l/?page=2"]),
    ('<http://a.test/l/?page=1>; rel="prev", <http://a.test/l/?page=3>; rel="next last"',
     ["http://a.test/l/?page=3"]),
    ('<http://a.test/l/?page=3>; title="a, b; rel=next"; rel="last"', []),
    ('</l/?cursor=a%2Cb>; rel="next"', ["/l/?cursor=a%2Cb"]),
    ('<http://a.test/l/?page=9>; rel="last"; rel="next"', []),  # a second rel is ignored
    ('<http://a.test/l/>; rel="self"', []),
]


@pytest.mark.parametrize("header,targets", LINKS)
def test_a_link_header_is_read_as_rfc_8288_writes_it(header, targets):
    assert next_link(header) == targets


def _page(data, headers=None, url="http://a.test/target-materials/"):
    return parse_page(Answer(data, 200, 1, headers=headers or {}), url)


def test_envelopes_of_the_known_shapes_give_their_records_next_page_and_count():
    url = "http://a.test/target-materials/"
    assert _page({"count": 3, "next": f"{url}?page=2", "previous": None,
                  "results": [{"id": 1}]}) == _expect([{"id": 1}], f"{url}?page=2", 3)
    assert _page({"items": [{"id": 1}], "total": 3, "page": 1, "size": 1,
                  "next_page": 2}) == _expect([{"id": 1}], f"{url}?page=2", 3)
    assert _page({"data": [], "links": {"next": {"href": "/target-materials/?page=2"}},
                  "meta": {"total": 0}}) == _expect([], f"{url}?page=2", 0)
    assert _page({"results": [{"id": 1}], "next": None, "count": 1}) == _expect(
        [{"id": 1}], None, 1)
    assert _page([{"id": 1}], {"X-Total-Count": " 7 ", "Link": f"<{url}?page=2>; rel=next"}) \
        == _expect([{"id": 1}], f"{url}?page=2", 7)


def _expect(entries, following, total):
    from layer_sync.remote.paging import Page

    return Page(entries, following, total)


@pytest.mark.parametrize("data,headers,words", [
    ({"detail": "ok"}, {}, "is a JSON object (fields 'detail')"),
    ({"results": [], "items": []}, {}, "is a JSON object"),
    ("[]", {}, "is not a JSON array (it is text)"),
    (None, {}, "it is empty"),
    ({"results": [], "has_more": True}, {}, "says it has more records"),
    ({"items": [], "page": 1, "pages": 3}, {}, "is page 1 of 3"),
    ({"results": [], "next_cursor": "abc"}, {}, "a paging field layer-sync does not know"),
    ({"results": [], "next": 2}, {}, "which is no address"),
    ({"results": [], "count": "many"}, {}, "which is no count"),
    ({"results": [], "count": -1}, {}, "which is no count"),
    ([], {"X-Total-Count": "12abc"}, "which is no count"),
    ({"results": [], "count": 3}, {"X-Total-Count": "4"}, "two different counts"),
    ({"results": [], "next": "?page=2"}, {"Link": "<?page=3>; rel=next"}, "two different next"),
    ([], {"Link": "<a>; rel=next, <b>; rel=next"}, "2 different next pages"),
    ([], {"Link": 'rel="next" http://a.test/2'}, "a Link header that cannot be read"),
])
def test_an_answer_that_may_hold_part_of_the_list_is_refused(data, headers, words):
    with pytest.raises(ListIncomplete, match=words.replace("(", r"\(").replace(")", r"\)")):
        _page(data, headers)


def test_an_unreadable_link_header_about_other_things_is_no_reason_to_stop():
    assert _page([{"id": 1}], {"Link": "garbage; rel=preload"}).next is None


# ------------------------------------------------------------------ bounded by what it decodes into

def test_a_gzip_bomb_on_the_list_ends_as_exit_2_at_once_with_the_json_line(sandbox, tmp_path):
    """48 MB of `[[],[],…]` (under the 64 MB bound on decoded bytes) arrives as 48 KB of
    gzip; parsed it would take 1.5 GB (the 254 KB answer of the issue took 7 GB). It is
    refused from its bytes before it is parsed: quickly, in little memory."""
    sandbox.listing = Listing(bomb_mb=48)
    sheet = _sheet(tmp_path, NEW_LAYER)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        code, out, err = _cli(["sync", str(sheet), "--api-url", sandbox.url, "--json",
                               "--report", str(tmp_path / "r.xlsx")])
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    line = json.loads(out)
    assert code == 2 and line["reason"]["kind"] == "answer_too_large", err
    assert "of memory once read, more than the 640 MB a run reads" in line["reason"]["message"]
    assert line["requests"] == {"GET": 1, "POST": 0, "PATCH": 0}  # refused, not tried again
    assert err.count("could not read the server's records") == 1 and "Traceback" not in err
    assert took < 20 and peak < 300 << 20, (took, peak >> 20)


def test_a_bomb_past_the_decoded_bound_is_not_read_past_it(sandbox, tmp_path):
    sandbox.listing = Listing(bomb_mb=300)
    outcome = _sync(sandbox, _sheet(tmp_path, NEW_LAYER))
    assert outcome.exit_code == 2 and outcome.reason[0] == "answer_too_large"
    assert "is larger than 64 MB; it was not read" in outcome.reason[1]
    assert _writes(sandbox) == 0


def test_a_gzipped_paged_list_is_read_as_any_other(paged, tmp_path):
    paged.listing = Listing(page_size=45, gzip=True)
    outcome = _sync(paged, _sheet(tmp_path))
    assert outcome.exit_code == 0 and outcome.requests == {"GET": 7}


def test_all_pages_together_are_bounded_by_what_they_decode_into(paged):
    first = ApiClient(paged.url, API_KEY).send("GET", "target-materials/")
    client = ApiClient(paged.url, API_KEY, max_answer_cost=int(first.cost * 3.5))
    paged.stats.reset()
    with pytest.raises(ApiError, match=r"would take more than .* \(after 4 pages\)") as caught:
        client.list_target_materials()
    assert caught.value.kind == "answer_too_large"
    assert paged.stats.by_method == {"GET": 4}  # the fourth page passed the bound


def test_an_error_answer_of_any_size_is_not_parsed_whole(sandbox, clock):
    from layer_sync.remote.answers import MAX_REASON_BYTES, server_reason

    class Response:
        encoding, reason, status_code, headers = "utf-8", "Bad", 400, {}

    huge = b'{"detail": "' + b"x" * (MAX_REASON_BYTES * 4) + b'"}'
    assert server_reason(Response(), huge, str).startswith('{"detail": "xxx')
    assert len(server_reason(Response(), huge, str)) == 300


@pytest.mark.parametrize("text", [
    b"[" + b",".join([b"{}"] * 20000) + b"]", b"[" + b",".join([b"[[[[]]]]"] * 5000) + b"]",
    b'{"' + b'","'.join(b"k%d\":\"v%d" % (i, i) for i in range(5000)) + b'"}',
    ('["' + "a" * 50000 + '\U0001F600"]').encode(), b'["' + b"a" * 50000 + b'\\ud83d\\ude00"]',
    json.dumps(_records()).encode(),
])
def test_the_estimate_of_what_json_takes_is_never_below_what_it_takes(text):
    tracemalloc.start()
    try:
        parsed = json.loads(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del parsed
    assert parsed_cost(text) >= peak + len(text)


# ------------------------------------------------------------------ odd records, end to end

ODD = ("text", "float", "bool", "object", "list", "null", "huge", "negative")


def test_odd_records_are_never_created_again_and_their_rows_say_why(sandbox, tmp_path):
    """60 layers whose records the server sends in odd shapes: a `layer_id` of "3", 3.0,
    true, an object, a list, null, past 64 bits or negative. None is taken for absent (60 duplicates once): every row is unplannable, said, not sent."""
    sandbox.store.seed(_records(6, 10))
    sandbox.listing = Listing(odd=ODD)
    rows = [[r["sample_id"], r["layer_id"], "BaTiO3"] for r in _records(6, 10)]
    code, out, err = _cli(["sync", str(_sheet(tmp_path, rows)), "--api-url", sandbox.url,
                           "--json", "--report", str(tmp_path / "r.xlsx")])
    line = json.loads(out)
    assert code == 1 and line["invalid"] == 60 and line["created"] == 0, err
    assert line["reason"]["kind"] == "rows_invalid"
    assert line["requests"] == {"GET": 1, "POST": 0, "PATCH": 0}
    assert len(sandbox.store.layers()) == 60 and _stored_twice(sandbox) == []
    assert "does not have the shape the API documents" in err
    assert "held by the server in a record" not in err  # (no other wording slipped in)


@pytest.mark.parametrize("shape", ODD)
def test_each_odd_shape_of_a_layer_id_makes_its_rows_invalid_with_the_reason(
        sandbox, tmp_path, shape):
    sandbox.store.seed(_records(2, 3))
    sandbox.listing = Listing(odd=(shape,))
    rows = [[r["sample_id"], r["layer_id"], "BaTiO3"] for r in _records(2, 3)]
    outcome = _sync(sandbox, _sheet(tmp_path, rows))
    assert outcome.exit_code == 1 and _writes(sandbox) == 0
    assert all(r.result is Result.INVALID for r in outcome.results)
    reason = {"null": "a layer's fields but no layer_id",
              "huge": "is beyond the ids the API stores",
              "negative": "is beyond the ids the API stores"}.get(shape, "layer_id is")
    assert all("does not have the shape the API documents" in r.message and reason in r.message
               for r in outcome.results), outcome.results[0].message


@pytest.mark.parametrize("paging", [None, "link", "results", "data"])
@pytest.mark.parametrize("shape", ENTRY_SHAPES)
@pytest.mark.parametrize("where", ["first", "last"])
def test_an_entry_that_is_no_record_stops_the_run_before_any_write(sandbox, tmp_path, shape,
                                                                   paging, where):
    """A list entry that is not an object (the record wrapped in a list, as JSON text, its id
    alone, null, a bare string) may hide a layer nobody can read: dropped, or judged row by
    row, the rows of other layers would still be written while the list is not whole. The
    run stops before any write (list_incomplete, exit 2), whatever the page it is on."""
    records = _records(3, 3)
    sandbox.store.seed(records)
    odd_at = 0 if where == "first" else len(records) - 1
    sandbox.listing = Listing(page_size=4 if paging else None, style=paging or "link",
                              odd=(shape,), odd_only=odd_at)
    rows = [[r["sample_id"], r["layer_id"], "BaTiO3"] for r in records] + [[1, 9, "SrTiO3"]]
    code, out, err = _cli(["sync", str(_sheet(tmp_path, rows)), "--api-url", sandbox.url,
                           "--json", "--report", str(tmp_path / "r.xlsx")])
    line = json.loads(out)
    assert code == 2 and line["reason"]["kind"] == "list_incomplete", err
    assert _writes(sandbox) == 0 and line["created"] == 0
    assert f"entry {odd_at + 1} of the server's list is" in err and "not a record" in err


def test_odd_sample_ids_and_record_ids_hold_back_their_layers_too(sandbox, tmp_path):
    sandbox.store.seed(_records(2, 2))
    for odd in ("sample_id:text", "sample_id:object", "id:float", "id:bool"):
        sandbox.listing = Listing(odd=(odd,))
        rows = [[r["sample_id"], r["layer_id"], "BaTiO3"] for r in _records(2, 2)]
        outcome = _sync(sandbox, _sheet(tmp_path, rows))
        assert outcome.exit_code == 1 and _writes(sandbox) == 0, odd
        assert all(r.result is Result.INVALID for r in outcome.results), odd


def test_many_odd_records_are_looked_up_in_linear_time(tmp_path):
    """40,000 odd records (their ids text) against 40,000 rows of other layers: each row's
    lookup went over every odd record (1.6 billion steps, 25 s; 100,000 rows: 150 s); now it
    is one lookup (2 s, most of it the plan's own work)."""
    count = 40000
    entries = [{"id": str(i), "sample_id": i, "layer_id": 1, "sample_name": f"S{i}"}
               for i in range(1, count + 1)]
    path = write_csv(tmp_path / "big.csv", COLUMNS,
                     [[i, 2, "BaTiO3"] for i in range(1, count + 1)])
    data = read_stacks(path)
    started = time.perf_counter()
    plan = build_plan(data, entries)
    assert time.perf_counter() - started < 12
    # Each odd record names layer 1 of its stack: layer 2 is not it, and is new.
    assert all(a.kind is ActionKind.CREATE for a in plan.actions)


# ------------------------------------------------------------------ odd shapes, generated

GOOD = {"id": 11, "sample_id": 1, "sample_name": "Stack 1", "substrate": "SrTiO3",
        "layer_id": 2, "composition_string": "BaTiO3", "orientation": "001"}


def _odd_forms(number: int):
    """`number` in every shape but a plain whole number, or a value that names no number."""
    return st.one_of(
        st.sampled_from([str(number), f" {number} ", f"{number}.0", f"0{number}", float(number),
                         [number], {"value": number}, True, False, None, -number, -1,
                         number + 2**31, number + 2**64, float("nan"), float("inf"), "", "two"]),
        st.text(max_size=6).filter(lambda t: not any(c.isdigit() for c in t)),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data(), field=st.sampled_from(["id", "sample_id", "layer_id"]),
       extra=st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=4)), max_size=2))
def test_any_record_whose_ids_are_not_whole_numbers_never_makes_its_layer_new(
        tmp_path, data, field, extra):
    """Whatever shape an id comes in (text, float, bool, null, object, list, past 32 bits,
    negative) and whatever bare values sit in the list, the layer the record may be is never
    created, updated or called unchanged: its row is invalid, with the reason."""
    value = data.draw(_odd_forms(GOOD[field]))
    if field == "id" and value is None:
        value = "11"  # a layer's record without an id is documented (a bare target material)
    record = {**GOOD, field: value}
    path = tmp_path / "odd.csv"
    if not path.exists():
        write_csv(path, COLUMNS, [[1, 1, "SrTiO3"], [1, 2, "BaTiO3"]])
    entries = [{**GOOD, "id": 10, "layer_id": 1, "composition_string": "SrTiO3"}, record, *extra]
    random.Random(len(extra)).shuffle(entries)
    plan = build_plan(read_stacks(path), entries)
    second = plan.actions[1]
    assert second.kind is ActionKind.INVALID and second.body == {}
    assert "does not have the shape the API documents" in second.message
    assert not any(a.kind is ActionKind.CREATE for a in plan.actions)
    assert len(ServerIndex.build(entries).odd) >= 1


def test_the_sandbox_says_what_it_plays(tmp_path, caplog):
    """`layer-sync sandbox` takes the list's modes as options; a wrong one is one line, exit 2."""
    caplog.set_level(logging.WARNING)
    code, _, err = _cli(["sandbox", "--port", "0", "--page-size", "0"])
    assert code == 2 and "--page-size must be 1 or more" in err
    code, _, err = _cli(["sandbox", "--port", "0", "--odd-records", "layer_id:words"])
    assert code == 2 and "unknown odd record 'layer_id:words'" in err
