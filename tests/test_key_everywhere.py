"""The key stays out of everything from the first byte: the log's first line (logged before
the key was resolved), a URL's user part or query wherever the URL is shown, the report's own
name, and a server's answer quoting it in a form a plain search would miss (full width, split
by NULs, zero-width spaces or soft hyphens, as entities, in a validation error's `loc`, as
UTF-16 text without a charset): a text that does not decode is not shown at all."""

from __future__ import annotations

import html
import io
import json
import re
import unicodedata
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layer_sync.cli import main
from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import Redactor, shown_url
from layer_sync.run.check import check_file
from layer_sync.sandbox.faults import ECHO_FORMS, echoed_key

from .conftest import API_KEY, write_csv

KEY = "rt-key-5f1c0a9e77deadbeef"


def _leaks(text: str, key: str = KEY) -> bool:
    """Whether a recognisable run (8 characters) of the key is in `text`, in any form a
    reader would recognise: NFKC, entities decoded, invisible characters and U+FFFD removed."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = re.sub("[\\x00-\\x1f\\u200b-\\u200f\\u00ad\\ufffd\\s]", "", text).casefold()
    key = key.casefold()
    return any(key[i:i + 8] in text for i in range(len(key) - 7))


def _report_text(path) -> str:
    with zipfile.ZipFile(path) as z:
        return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()
                       if n.endswith(".xml"))


@pytest.fixture
def echo(sandbox):
    sandbox.api_key = KEY
    sandbox.echo_key = True
    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"}])
    return sandbox


@pytest.mark.parametrize("form", ECHO_FORMS)
def test_a_422_quoting_the_key_in_any_form_leaks_it_nowhere(echo, tmp_path, form):
    echo.echo_form = form
    echo.faults.inject("422", method="POST")
    sheet = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                      [[1, 1, "001"]])
    log, report = tmp_path / "run.log", tmp_path / "r.xlsx"
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(sheet), "--api-url", echo.url, "--json", "--log-file", str(log),
                 "-v", "--report", str(report)],
                environ={"ATOMSCALE_API_KEY": KEY}, stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    assert "422" in err.getvalue()
    if form == "utf16":  # not what it says it is: not shown at all
        assert "not readable text" in err.getvalue()
    for where, text in (("stdout", out.getvalue()), ("stderr", err.getvalue()),
                        ("log", log.read_text(encoding="utf-8")),
                        ("report", _report_text(report))):
        assert not _leaks(text), (form, where)


@given(st.sampled_from(ECHO_FORMS[:-2]), st.text(max_size=20), st.text(max_size=20))
def test_the_redactor_finds_the_key_in_every_echoed_form_inside_any_text(form, before, after):
    text = Redactor([KEY]).redact(f"{before}{echoed_key(KEY, form)}{after}")
    assert not _leaks(text.replace(before, "", 1)[::-1].replace(after[::-1], "", 1)[::-1])


@pytest.mark.parametrize("url", [f"http://lab:{KEY}@127.0.0.1:{{port}}/",
                                 f"http://127.0.0.1:{{port}}/?token={KEY}",
                                 "http://proxyuser:hunter2-proxy-secret@127.0.0.1:{port}/",
                                 "http://127.0.0.1:{port}/?sig=hunter2-proxy-secret#frag"])
def test_a_secret_in_the_api_url_is_shown_nowhere_from_the_first_log_line(sandbox, tmp_path,
                                                                          url):
    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"}])
    port = sandbox.url.rstrip("/").rsplit(":", 1)[1]
    sheet = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                      [[1, 1, "001"]])
    log, report = tmp_path / "run.log", tmp_path / "r.xlsx"
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(sheet), "--api-url", url.format(port=port), "--json",
                 "--log-file", str(log), "--report", str(report)],
                environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    texts = [out.getvalue(), err.getvalue(), log.read_text(encoding="utf-8"),
             _report_text(report)]
    for text in texts:
        assert KEY not in text and "hunter2-proxy-secret" not in text
    assert json.loads(out.getvalue())["exit_code"] == 0
    assert "127.0.0.1" in log.read_text(encoding="utf-8").splitlines()[0]


def test_the_key_in_the_sheets_folder_never_reaches_the_logs_first_line(sandbox, tmp_path):
    sandbox.api_key = KEY
    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"}])
    folder = tmp_path / KEY
    folder.mkdir()
    sheet = write_csv(folder / "lab.csv", ["sample_id", "layer_id", "orientation"],
                      [[1, 1, "001"]])
    log = tmp_path / "run.log"
    for extra in ([], ["--dry-run"]):
        main(["sync", str(sheet), "--api-url", sandbox.url, "--log-file", str(log), *extra],
             environ={"ATOMSCALE_API_KEY": KEY}, stdout=io.StringIO(), stderr=io.StringIO())
    # A key pasted into the URL variable: refused, and not in the log either.
    main(["sync", str(sheet), "--log-file", str(log)],
         environ={"ATOMSCALE_API_KEY": KEY, "ATOMSCALE_API_URL": KEY},
         stdout=io.StringIO(), stderr=io.StringIO())
    text = log.read_text(encoding="utf-8")
    assert text.count("started") == 2 and not _leaks(text), text


@pytest.mark.parametrize("command", ["sync", "check"])
def test_a_sheet_named_after_the_key_gives_a_report_named_without_it(sandbox, tmp_path,
                                                                     command, caplog):
    sandbox.api_key = KEY
    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"}])
    sheet = write_csv(tmp_path / f"lab {KEY}.csv", ["sample_id", "layer_id", "orientation"],
                      [[1, 1, "001"]])
    if command == "sync":
        out, err = io.StringIO(), io.StringIO()
        main(["sync", str(sheet), "--json", "--api-url", sandbox.url],
             environ={"ATOMSCALE_API_KEY": KEY}, stdout=out, stderr=err)
        said = err.getvalue()
    else:
        check_file(sheet, report=True, runtime=Runtime(environ={"ATOMSCALE_API_KEY": KEY}))
        said = caplog.text
    names = [p.name for p in (tmp_path / "layer-sync-reports").iterdir()]
    assert len(names) == 1 and not _leaks(names[0]) and "KEY-REMOVED" in names[0], names
    assert "the report's name leaves it out" in said


def test_shown_url_keeps_the_host_and_path_and_nothing_secret():
    assert shown_url("https://u:p@api.x.org:8443/v1/?a=1&b#f") == "https://***@api.x.org:8443/v1/?a=***&***"
    assert shown_url("https://api.atomscale.ai/") == "https://api.atomscale.ai/"
