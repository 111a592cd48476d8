"""File names as the tool shows, writes and matches them: one rule for a name that holds a
control or format character (U+202E) or bytes that do not decode (a name from a cp1252 share:
Python hands them over as U+DC80-U+DCFF); key files as Windows tools and people write them;
short keys that are also ordinary words; an API URL typed without its scheme."""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import re
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layer_sync import Runtime, sync_file
from layer_sync.cli import main
from layer_sync.core.text import name_part, one_line, printable
from layer_sync.outcome.table import CellText
from layer_sync.report.paths import own_reports, report_prefix, report_stem
from layer_sync.report.retention import _made_for

from .conftest import API_KEY, key_file_line

SHEET = "sample_id,layer_id,orientation\n1,1,001\n"
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="file names are bytes on POSIX only")

#: Unicode's categories never shown as they are: controls, format characters, surrogates,
#: line and paragraph separators.
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


# ============================================================ one character class

def test_the_unsafe_class_holds_every_control_and_format_character_of_this_python():
    """The class is written out (no scan at start): it must hold every code point of these
    categories in this Python's Unicode, so that a new format character is caught here."""
    missing = [hex(c) for c in range(0x110000)
               if unicodedata.category(chr(c)) in UNSAFE_CATEGORIES
               and chr(c) not in "\t\n" and printable(chr(c)) == chr(c)]
    assert missing == []
    missing = [hex(c) for c in range(0x110000)
               if unicodedata.category(chr(c)) in UNSAFE_CATEGORIES and name_part(chr(c)) != "_"]
    assert missing == []


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200b", "\u200d", "\u00ad", "\ufeff",
                                  "\u2060", "\U000e0041", "\x1b", "\x85", "\u2028", "\udcff"])
def test_a_name_shows_a_control_or_format_character_alike_everywhere(char):
    name = f"lab{char}gpj.csv"
    assert name_part(name) == "lab_gpj.csv"
    assert one_line(name) == printable(name) == "lab\ufffdgpj.csv"
    assert char not in report_prefix(Path(name))


# ============================================================ names that do not decode

#: File names as bytes: not UTF-8 (cp1252, cp437, latin-1, Shift-JIS), a lone continuation
#: byte, an overlong form, a bidi override, a control character, a format character.
BYTE_NAMES = [b"bad\xff.csv", b"Caf\xe9 films.csv", b"\x82\xa0lab.csv", b"lab\x80.csv",
              b"\xc0\xafx.csv", b"lab\xe2\x80\xaeVSC.csv", b"lab\x1b[2J.csv",
              b"lab\xe2\x80\x8b.csv"]


def _byte_path(folder: Path, name: bytes) -> Path:
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))
    path.write_text(SHEET, encoding="utf-8")
    return path


def _night(day: int):
    return lambda: _dt.datetime(2026, 11, day, 2, 0, 0).astimezone()


@POSIX
@pytest.mark.parametrize("name", BYTE_NAMES, ids=lambda n: n.decode("latin-1").encode(
    "ascii", "backslashreplace").decode())
def test_keep_reports_keeps_n_reports_of_a_sheet_whose_name_does_not_decode(stack, tmp_path,
                                                                              name):
    """The red team's repro: `bad\\xff.csv` run three times with --keep-reports 1 left three
    reports (the Summary showed the name with U+FFFD, retention compared the name as the
    file system gave it). Now one is left, named in valid text, the name's bytes as "_"."""
    path = _byte_path(tmp_path, name)
    reports = [sync_file(path, api_key=API_KEY, api_url=stack.url, dry_run=True, keep_reports=1,
                         runtime=Runtime(now=_night(day))).report for day in (1, 2, 3)]
    left = os.listdir(tmp_path / "layer-sync-reports")
    assert left == [reports[-1].name]
    left[0].encode("utf-8")  # valid text: any folder (a UTF-8-only share) takes it
    assert all(unicodedata.category(c) not in UNSAFE_CATEGORIES for c in left[0])


@POSIX
def test_two_sheets_whose_names_differ_in_bytes_that_do_not_decode_keep_each_others(
        stack, tmp_path):
    """`bad\\xff.csv` and `bad\\xfe.csv` show alike (U+FFFD) but are two sheets."""
    first = sync_file(_byte_path(tmp_path, b"bad\xff.csv"), api_key=API_KEY, api_url=stack.url,
                      dry_run=True, keep_reports=1, runtime=Runtime(now=_night(1))).report
    other = _byte_path(tmp_path, b"bad\xfe.csv")
    for day in (2, 3):
        sync_file(other, api_key=API_KEY, api_url=stack.url, dry_run=True, keep_reports=1,
                  runtime=Runtime(now=_night(day)))
    left = os.listdir(tmp_path / "layer-sync-reports")
    assert first.name in left and len(left) == 2


_NAME_BYTES = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))


@POSIX
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_NAME_BYTES, other=_NAME_BYTES)
def test_any_byte_name_gets_a_report_name_of_valid_text_found_again_by_retention(
        tmp_path, name, other):
    """For any file name the OS may give: the report's name is valid text without unsafe
    characters; retention finds the reports named so, and a Summary that shows the name as
    the report does names this sheet; two names give two prefixes."""
    path = Path(os.fsdecode(name))
    when = _dt.datetime(2026, 11, 1, 2, 0)
    stem = report_stem(path, when)
    stem.encode("utf-8")
    assert name_part(stem) == stem
    folder = tmp_path / name.hex()
    folder.mkdir(exist_ok=True)
    (folder / f"{stem}.xlsx").write_bytes(b"")
    assert [p.name for _, p in own_reports(folder, path)] == [f"{stem}.xlsx"]
    shown = CellText().text
    assert _made_for(shown(str(path)), path, shown)
    assert _made_for(shown(str(path.absolute())), path, shown)
    if other != name:
        assert report_prefix(path) != report_prefix(Path(os.fsdecode(other)))


def _cli(args, env=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ=env if env is not None else {"ATOMSCALE_API_KEY": API_KEY},
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_a_bidi_override_in_the_sheets_name_never_reaches_the_report_name_the_log_or_terminal(
        stack, tmp_path, monkeypatch):
    """The red team's repro: `ü\u202eVSC.csv` gave a report named `…ü\u202eVSC_csv_….xlsx`,
    which a file manager shows reversed."""
    name = "ü\u202eVSC.csv"
    (tmp_path / name).write_text(SHEET, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "layer-sync.toml").write_text(key_file_line(tmp_path), encoding="utf-8")
    code, out, err = _cli(["sync", name, "--api-url", stack.url, "--dry-run", "--json",
                           "--log-file", "log.txt"])
    assert code == 0, err
    reports = os.listdir(tmp_path / "layer-sync-reports")
    assert len(reports) == 1 and "\u202e" not in reports[0] and "ü_VSC" in reports[0]
    assert "\u202e" not in (tmp_path / "log.txt").read_text(encoding="utf-8")
    assert "\u202e" not in out + err
    assert json.loads(out)["report"].endswith(reports[0])


# ============================================================ key files as people write them

KEY_FILES_READ = [
    pytest.param(b"\xef\xbb\xbf" + API_KEY.encode() + b"\r\n", id="utf8-bom-crlf (Notepad)"),
    pytest.param(API_KEY.encode() + b"\n", id="the key alone"),
    pytest.param(b"\n  " + API_KEY.encode() + b"  \r\n\r\n", id="blank lines and spaces"),
    pytest.param(f"ATOMSCALE_API_KEY={API_KEY}\n".encode(), id="NAME=KEY"),
    pytest.param(f"export ATOMSCALE_API_KEY='{API_KEY}'\n".encode(), id="export quoted"),
    pytest.param(f'AS_API_KEY="{API_KEY}"\n'.encode(), id="AS_API_KEY quoted"),
    pytest.param(f"set ATOMSCALE_API_KEY={API_KEY}\r\n".encode(), id="cmd set"),
    pytest.param(f'\ufeff$env:ATOMSCALE_API_KEY = "{API_KEY}"\r\n'.encode(), id="PowerShell"),
]


@pytest.mark.parametrize("content", KEY_FILES_READ)
def test_a_key_file_as_windows_tools_and_shells_write_it_is_read(stack, tmp_path, content):
    """The red team's repro: a key file saved with a UTF-8 BOM was refused ("holds a
    character that cannot be sent in an HTTP header ... copy the key again"), which copying
    again cannot help; `ATOMSCALE_API_KEY=KEY` got only 401 from the server."""
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    key_file.chmod(0o600)
    sheet = tmp_path / "s.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--api-key-file",
                           str(key_file), "--json", "--dry-run"], env={})
    assert code == 0, err
    assert json.loads(out)["exit_code"] == 0


KEY_FILES_REFUSED = [
    pytest.param(f"API_KEY={API_KEY}\n", "not the key alone", id="another NAME=KEY"),
    pytest.param(f'api_key = "{API_KEY}"\n', "not the key alone", id="TOML"),
    pytest.param(f"atomscale_key: {API_KEY}\n", "not the key alone", id="YAML"),
    pytest.param(f"export MY_KEY={API_KEY}\n", "not the key alone", id="export another"),
    pytest.param(f'"{API_KEY}"\n', "without quotes", id="quoted"),
    pytest.param(f"'{API_KEY}'\n", "without quotes", id="single-quoted"),
    pytest.param("ATOMSCALE_API_KEY=\n", "no key after ATOMSCALE_API_KEY=", id="NAME= alone"),
]


@pytest.mark.parametrize("content,says", KEY_FILES_REFUSED)
def test_a_key_file_holding_a_setting_says_what_to_write_and_sends_nothing(stack, tmp_path,
                                                                           content, says):
    key_file = tmp_path / "key"
    key_file.write_text(content, encoding="utf-8")
    key_file.chmod(0o600)
    sheet = tmp_path / "s.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--api-key-file",
                           str(key_file), "--json"], env={})
    line = json.loads(out)
    assert code == 2 and line["reason"]["kind"] == "bad_key"
    assert says in line["reason"]["message"] and says in err
    assert API_KEY not in out + err
    assert stack.stats.total == 0


def test_a_utf16_key_file_is_still_refused_as_not_utf8(tmp_path):
    from layer_sync.core.errors import ConfigError
    from layer_sync.remote.settings import resolve_api_key

    key_file = tmp_path / "key"
    key_file.write_bytes(API_KEY.encode("utf-16"))
    with pytest.raises(ConfigError, match=r"not text \(UTF-8\)"):
        resolve_api_key({}, key_file)


# ============================================================ an API URL without its scheme

@pytest.mark.parametrize("given,meant", [
    ("127.0.0.1:8765", "http://127.0.0.1:8765/"),
    ("localhost:8765/", "http://localhost:8765/"),
    ("127.0.0.2:9000/api/", "http://127.0.0.2:9000/api/"),
    ("[::1]:8765", "http://[::1]:8765/"),
    ("//127.0.0.1:8765", "http://127.0.0.1:8765/"),
    ("api.atomscale.ai", "https://api.atomscale.ai/"),
    ("api.atomscale.ai/", "https://api.atomscale.ai/"),
    ("lab-proxy.example.org:8443/atomscale/", "https://lab-proxy.example.org:8443/atomscale/"),
])
def test_an_api_url_without_its_scheme_is_refused_with_the_url_meant(given, meant):
    code, out, err = _cli(["sync", "x.csv", "--api-url", given, "--json"])
    assert code == 2 and json.loads(out)["reason"]["kind"] == "bad_api_url"
    assert f"--api-url {meant}" in err


@pytest.mark.parametrize("given", ["ftp://x/", "hello world", "127.0.0.1:abc",
                                   "user:secret@host", "htp://x/"])
def test_an_api_url_that_is_no_address_gets_no_guess(given):
    code, out, err = _cli(["sync", "x.csv", "--api-url", given, "--json"])
    assert code == 2
    assert "https://api.atomscale.ai/" in err and "secret" not in out + err


# ============================================================ short keys that are words

def test_the_sandboxs_default_key_is_no_word_any_text_of_the_tool_holds():
    """README's sandbox key, used as the run's key, must leave every line of the README, the
    docs and --help as it is (the old key `sandbox` turned 39 of them into `***`)."""
    from layer_sync.cli.arguments import build_parser
    from layer_sync.core.secrets import Redactor
    from layer_sync.sandbox import DEFAULT_API_KEY

    root = Path(__file__).resolve().parent.parent
    texts = [p.read_text(encoding="utf-8") for p in [root / "README.md",
                                                      *sorted((root / "docs").glob("*.md"))]]
    parser = build_parser()
    texts += [parser.format_help()] + [sub.format_help() for sub in parser.commands.values()]
    redactor = Redactor([DEFAULT_API_KEY])
    assert len(DEFAULT_API_KEY) >= 8 and not DEFAULT_API_KEY.isalpha()
    mention = re.compile(r"\s*".join(map(re.escape, DEFAULT_API_KEY)))  # help wraps lines
    texts = [mention.sub("", text) for text in texts]
    changed = [line for text in texts for line in text.splitlines()
               if redactor.redact(line) != line]
    assert changed == []


SHORT_WORD_KEYS = ["sandbox", "lab", "test", "k", "demo"]


@pytest.mark.parametrize("key", SHORT_WORD_KEYS)
def test_a_short_key_that_is_a_word_leaves_paths_and_handles_as_they_are(tmp_path,
                                                                         monkeypatch, key):
    """From a new user: the sandbox's old key `sandbox` as the run's key printed the report
    as `layer-sync_***_test_…` (no such file), the JSON line's report and input wrong, and
    --keep-reports pruned nothing. Paths a run prints are handles: a short key (no Atomscale
    key is shorter than 8) is hidden only where it stands alone."""
    from layer_sync.sandbox import SandboxServer

    folder = tmp_path / key
    folder.mkdir()
    name = f"{key}_test.csv"
    (folder / name).write_text(SHEET, encoding="utf-8")
    monkeypatch.chdir(folder)
    with SandboxServer(api_key=key) as server:
        server.store.seed([{"id": 1, "sample_id": 1, "sample_name": "S", "substrate": "Si",
                            "layer_id": 1, "composition_string": "SrTiO3",
                            "orientation": "001"}])
        lines = []
        for _ in range(3):
            code, out, err = _cli(["sync", str(folder / name), "--api-url", server.url,
                                   "--dry-run", "--json", "--keep-reports", "1"],
                                  env={"ATOMSCALE_API_KEY": key})
            assert code == 0, err
            lines.append(json.loads(out))
            time_passes()
    line = lines[-1]
    assert line["input"]["path"] == str(folder / name)
    report = Path(line["report"])
    assert report.is_file() and report.name.startswith(f"layer-sync_{key}_test_csv_")
    assert f"Report: {report}" in err
    assert os.listdir(report.parent) == [report.name]  # --keep-reports 1 pruned the others


def time_passes() -> None:
    """Reports of one sheet are told apart by their millisecond."""
    import time

    time.sleep(0.002)


@pytest.mark.parametrize("where", ["X-API-KEY: {k}", "key={k}&x=1", "'{k}'", "invalid key {k}.",
                                   "{k}", "(got {k})", '"api_key": "{k}"'])
def test_a_short_key_standing_alone_is_still_hidden(where):
    from layer_sync.core.secrets import Redactor

    assert Redactor(["sandbox"]).redact(where.format(k="sandbox")) == where.format(k="***")


def test_a_long_key_in_the_sheets_name_is_left_out_of_the_printed_paths_and_said(
        stack, tmp_path, monkeypatch):
    """A real key really in the path: the JSON line's input shows it as ***, the report's
    name holds KEY-REMOVED (a real file: the handle is right), and a warning says so."""
    name = f"lab {API_KEY}.csv"
    (tmp_path / name).write_text(SHEET, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(["sync", name, "--api-url", stack.url, "--dry-run", "--json",
                           "--api-key-file", _key_file(tmp_path)], env={})
    assert code == 0, err
    line = json.loads(out)
    assert API_KEY not in out + err and line["input"]["path"] == "lab ***.csv"
    assert "KEY-REMOVED" in line["report"] and Path(line["report"]).is_file()
    assert "holds the API key" in err


def _key_file(folder: Path) -> str:
    path = folder / "key.txt"
    path.write_text(API_KEY + "\n", encoding="utf-8")
    path.chmod(0o600)
    return str(path)
