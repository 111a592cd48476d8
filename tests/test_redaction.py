"""The key never leaves the process in any common form (issue 18, item 7).

A server that echoes the key *encoded* (base64 of `apikey:KEY` at any offset, upper or lower
case, HTML entities, split by a line break, every byte percent-encoded, hex, base32, cut
short) and a key pasted into the sheet that `check` reads: each is written as `***`. What
counts as a leak here is judged by `leaks`, which decodes with the standard library's own
decoders, independently of `core.redaction`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import string
import threading
import unicodedata
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote, unquote, unquote_to_bytes

import openpyxl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from layer_sync.cli import main
from layer_sync.cli.summary import print_check
from layer_sync.core.secrets import Redactor, redact
from layer_sync.run.check import check_file

KEY = "sk-live-A1b2C3d4E5f6G7h8I9j0Kx"
RUN = 8


# ------------------------------------------------------------------------------ the judge

def _bare(text: str) -> str:
    """Case-folded, without whitespace or characters that show as nothing (Unicode Cf)."""
    return "".join(c for c in text.casefold()
                   if not c.isspace() and unicodedata.category(c) != "Cf")


def _decodings(text: str) -> set[str]:
    """`text` and what the standard library decodes it into (HTML, percent-escapes, backslash
    escapes), three times over."""
    found = {text}
    for _ in range(3):
        found |= {made for form in found for made in _decoded_once(form)}
    return found


def _decoded_once(text: str) -> list[str]:
    made = [html.unescape(text), unquote(text), unquote_to_bytes(text).decode("latin-1")]
    with warnings.catch_warnings():  # "invalid escape sequence": left as it is
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            made.append(text.encode("latin-1", "backslashreplace").decode("unicode_escape"))
        except UnicodeDecodeError:
            pass
    return made


def _binary(text: str) -> set[str]:
    """Every run of a binary-to-text alphabet in `text` (whitespace removed), decoded at each
    alignment by base64, base32 and hex, as Latin-1 text."""
    found: set[str] = set()
    bare = re.sub(r"\s+", "", text)
    for run in re.findall(r"[A-Za-z0-9+/_-]{10,}", bare):
        for align in range(4):
            part = run[align:].replace("-", "+").replace("_", "/")
            part = part[:len(part) - len(part) % 4]
            found.add(base64.b64decode(part).decode("latin-1"))
    for run in re.findall(r"[A-Za-z2-7]{12,}", bare):
        for align in range(8):
            part = run[align:].upper()
            found.add(base64.b32decode(part[:len(part) - len(part) % 8]).decode("latin-1"))
    for run in re.findall(r"[0-9A-Fa-f]{16,}", bare):
        for align in range(2):
            part = run[align:]
            found.add(bytes.fromhex(part[:len(part) - len(part) % 2]).decode("latin-1"))
    return found


def leaks(text: str, key: str) -> list[str]:
    """The runs of RUN characters of `key` that `text` still holds, in any form decoded here."""
    runs = {_bare(key)[i:i + RUN] for i in range(len(_bare(key)) - RUN + 1)}
    forms = _decodings(text)
    forms |= {d for form in list(forms) for b in _binary(form) for d in _decodings(b)}
    return sorted({run for form in forms for run in runs if run in _bare(form)})


# ------------------------------------------------------------------------------ the attack's forms

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ATTACK = {
    "as sent": KEY,
    "upper case": KEY.upper(),
    "lower case": KEY.lower(),
    "base64 of apikey:KEY": _b64(f"apikey:{KEY}".encode()),
    "base64 at offset 1": _b64(f"k:{KEY}".encode()),
    "base64 at offset 2": _b64(f"ke:{KEY}".encode()),
    "base64 URL-safe, unpadded": base64.urlsafe_b64encode(f"x{KEY}".encode()).decode().rstrip("="),
    "base64 in Basic auth": "Authorization: Basic " + _b64(f"apikey:{KEY}".encode()),
    "base64 wrapped at 16": "\n".join(re.findall(".{1,16}", _b64(f"apikey:{KEY}".encode()))),
    "HTML decimal entities": "".join(f"&#{ord(c)};" for c in KEY),
    "HTML hex entities": "".join(f"&#x{ord(c):X};" for c in KEY),
    "split by a line break": KEY[:11] + "\n" + KEY[11:],
    "split by CRLF and indent": KEY[:5] + "\r\n    " + KEY[5:],
    "every byte percent-encoded": "".join(f"%{b:02X}" for b in KEY.encode()),
    "every byte percent-encoded, lower": "".join(f"%{b:02x}" for b in KEY.encode()),
    "percent-encoded twice": quote("".join(f"%{b:02X}" for b in KEY.encode()), safe=""),
    "hex": KEY.encode().hex(),
    "HEX": KEY.encode().hex().upper(),
    "hex of apikey:KEY": f"apikey:{KEY}".encode().hex(),
    "base32": base64.b32encode(KEY.encode()).decode(),
    "base32 of apikey:KEY, lower": base64.b32encode(f"apikey:{KEY}".encode()).decode().lower(),
    "less its last characters": KEY[:-6],
    "its first 8 characters": KEY[:8],
    "its last 8 characters": KEY[-8:],
    "JSON \\u escapes": json.dumps(KEY, ensure_ascii=True).replace(KEY[3], f"\\u{ord(KEY[3]):04x}"),
    "all \\u escapes": "".join(f"\\u{ord(c):04x}" for c in KEY),
    "repr": repr(KEY),
    "zero-width spaces between": "\u200b".join(KEY),
    "HTML entities of percent-escapes": "".join(f"&#37;{b:02X}" for b in KEY.encode()),
    "percent-encoded base64": quote(_b64(f"apikey:{KEY}".encode()), safe=""),
}


@pytest.mark.parametrize("name", list(ATTACK))
def test_the_key_in_each_form_the_attack_used_is_written_as_stars(name):
    text = f"422: the key {ATTACK[name]} was refused (see the log)"
    assert leaks(text, KEY), name  # the judge sees the key in the form
    redacted = redact(text, KEY)
    assert not leaks(redacted, KEY), (name, redacted)
    assert "***" in redacted and redacted.startswith("422: the key ")
    assert redacted.endswith("was refused (see the log)") or name.startswith("base64 wrapped")


def test_several_keys_and_every_occurrence_are_replaced():
    other = "ZZtop-0987654321-qwerty"
    redactor = Redactor([KEY, other, None, ""])
    text = f"{KEY} and {other.upper()}, then {_b64(KEY.encode())} again {KEY[:12]}"
    assert redactor.redact(text) == "*** and ***, then *** again ***"
    assert redactor.keys == tuple(sorted([KEY, other])) and "sk-" not in repr(redactor)


def test_redaction_is_stable_and_says_where_the_key_was():
    text = f"Location: https://x/?api_key={quote(KEY)}&next=1"
    once = redact(text, KEY)
    assert once == "Location: https://x/?api_key=***&next=1"
    assert redact(once, KEY) == once


def test_a_short_made_up_key_is_still_replaced_only_where_it_stands_alone():
    assert redact("0 skipped from lab_stacks.xlsx; key k; k=1", "k") == \
        "0 skipped from lab_stacks.xlsx; key ***; ***=1"
    assert redact("key 'kq7' and kq7x and %6Bq7", "kq7") == "key '***' and kq7x and %6Bq7"


# ------------------------------------------------------------------------------ properties

KEY_CHARS = string.ascii_letters + string.digits + "_-"
keys = st.one_of(
    st.text(KEY_CHARS, min_size=20, max_size=64),
    st.text(string.ascii_letters + string.digits + "+/=.~!*'()&%$#@:;,?<>\"\\", min_size=20,
            max_size=40),
).filter(lambda k: len(set(k)) > 6)  # a real key is not "aaaaaaaaaaaaaaaaaaaa"

TEXT_AROUND = ["", "422: ", "bad key ", "Location: https://x/?k=", "<p>key: ", "detail=",
               "{\"detail\": \"", "Basic "]


@st.composite
def encoded_keys(draw: st.DrawFn) -> tuple[str, str]:
    """(a key, a text that holds it in some form with some wrapping at some offset)."""
    key = draw(keys)
    start = draw(st.integers(0, len(key) - RUN))
    piece = key[start:draw(st.integers(start + RUN, len(key)))]  # any RUN or more of it
    before = draw(st.binary(max_size=5)) + draw(st.sampled_from([b"", b"apikey:", b"k="]))
    after = draw(st.binary(max_size=5))
    data = before + piece.encode() + after
    form = draw(st.sampled_from(["raw", "upper", "lower", "swap", "broken", "html", "htmlx",
                                 "percent", "quote2", "unicode", "repr", "json", "b64", "b64url",
                                 "b64wrapped", "b32", "b32lower", "hex", "HEX"]))
    encoded = {
        "raw": lambda: piece, "upper": piece.upper, "lower": piece.lower,
        "swap": piece.swapcase,
        "broken": lambda: "".join(c + draw(st.sampled_from(["", "", "", "\n", "\r\n", " "]))
                                  for c in piece),
        "html": lambda: "".join(f"&#{ord(c)};" for c in piece),
        "htmlx": lambda: "".join(f"&#x{ord(c):x};" for c in piece),
        "percent": lambda: "".join(f"%{b:02X}" for b in piece.encode()),
        "quote2": lambda: quote(quote(piece, safe=""), safe=""),
        "unicode": lambda: "".join(f"\\u{ord(c):04x}" for c in piece),
        "repr": lambda: repr(piece), "json": lambda: json.dumps(piece),
        "b64": lambda: base64.b64encode(data).decode(),
        "b64url": lambda: base64.urlsafe_b64encode(data).decode().rstrip("="),
        "b64wrapped": lambda: "\r\n".join(
            re.findall(f".{{1,{draw(st.integers(4, 76))}}}", base64.b64encode(data).decode())),
        "b32": lambda: base64.b32encode(data).decode(),
        "b32lower": lambda: base64.b32encode(data).decode().lower().rstrip("="),
        "hex": lambda: data.hex(), "HEX": lambda: data.hex().upper(),
    }[form]()
    text = draw(st.sampled_from(TEXT_AROUND)) + encoded + draw(st.sampled_from(["", " (x)", "\"}",
                                                                                 "</p>", "&a=1"]))
    return key, text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(encoded_keys())
def test_no_run_of_eight_characters_of_the_key_survives_in_any_encoding(case):
    key, text = case
    assume(leaks(text, key))  # what the judge cannot see either is no leak (a mangled run)
    redacted = Redactor([key]).redact(text)
    assert not leaks(redacted, key), (key, text, redacted)


WORDS = ["skipped", "created", "updated", "unchanged", "invalid", "failed", "Stacks", "Stacks!F12",
         "Old stacks", "lab_stacks.xlsx", "BaTiO3", "La0.7Sr0.3MnO3", "(Ba0.5Sr0.5)TiO3", "001",
         "1-10", "P4mm", "Fm-3m", "P2_1/c", "mp-5020", "every rule passed", "5%", "BTO & STO",
         "&amp;", "C:\\lab\\sheet.xlsx", "https://api.atomscale.ai/target-materials/",
         "2026-11-23 02:00:00", "orientation: 001 → 111", "'***'", "Übergitter", "Charge 7",
         "deadbeefcafebabe0123", "YWJjZGVm", "sample_id", "layer_id", "{\"Ba\": 1, \"O\": 3}"]


@settings(max_examples=300, deadline=None)
@given(keys, st.lists(st.one_of(st.sampled_from(WORDS), st.integers().map(str),
                                st.floats(allow_nan=False).map(str)), max_size=12),
       st.sampled_from([" ", "; ", "\n", ", ", ""]))
def test_ordinary_text_without_the_key_comes_back_unchanged(key, words, sep):
    text = sep.join(words)
    assume(not leaks(text, key))
    assert Redactor([key]).redact(text) == text


def test_the_readme_comes_back_unchanged_and_mostly_through_the_cheap_test():
    """Real text of this project: nothing replaced, and the cheap test alone decides for
    nearly every line (the full search runs only where a key could be)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    for key in (KEY, "0123456789abcdef0123456789abcdef", "Zq9x+b*(c%2F'x\"y<&>z\\w-long"):
        redactor = Redactor([key])
        assert [redactor.redact(line) for line in lines] == lines
        through = sum(not redactor.may_contain(line) for line in lines)
        assert through >= 0.95 * len(lines), (key, through, len(lines))


# ------------------------------------------------------------------------------ end to end

class _Echo(BaseHTTPRequestHandler):
    """A server that quotes the client's key back, in another encoding in each answer."""

    forms: ClassVar[list[str]] = []
    count = 0

    def _answer(self, status: int, body: str, kind: str = "application/json",
                headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _next_form(self) -> str:
        form = self.forms[_Echo.count % len(self.forms)]
        _Echo.count += 1
        return form

    def do_GET(self) -> None:
        if self.headers.get("X-API-KEY") != KEY:
            self._answer(401, json.dumps({"detail": f"key {self._next_form()} is not valid"}))
            return
        record = {"id": 1, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 1,
                  "composition_string": "SrTiO3", "orientation": "001"}
        other = dict(record, id=2, layer_id=99,
                     composition_string=f"note {ATTACK['base64 of apikey:KEY']}")
        self._answer(200, json.dumps([record, other]))

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        form = self._next_form()
        if _Echo.count % 3 == 0:
            self._answer(400, f"<html><body><p>Bad request for {form}</p></body></html>",
                         "text/html")
        else:
            self._answer(422, json.dumps({"detail": f"the key {form} may not write here"}))

    do_PATCH = do_POST

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def echo_server():
    _Echo.forms, _Echo.count = list(ATTACK.values()), 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _workbook_texts(path: Path) -> list[str]:
    book = openpyxl.load_workbook(path)
    texts = []
    for sheet in book.worksheets:
        texts.append(sheet.title)
        texts += [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
    return texts


def test_a_server_that_echoes_the_key_encoded_leaks_it_nowhere(echo_server, tmp_path):
    rows = [[1, 1, "111"]] + [[1, n, "001"] for n in range(2, len(ATTACK) + 2)]
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,orientation\n"
                    + "".join(f"{a},{b},{c}\n" for a, b, c in rows), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    log, report = tmp_path / "sync.log", tmp_path / "report.xlsx"
    code = main(["sync", str(path), "--report", str(report), "--log-file", str(log), "-v",
                 "--json", "--concurrency", "1"],
                environ={"ATOMSCALE_API_KEY": KEY, "ATOMSCALE_API_URL": echo_server},
                stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    assert json.loads(out.getvalue())["failed"] == len(rows)
    # The key refused, and quoted back in the 401's detail.
    refused_out, refused_err = io.StringIO(), io.StringIO()
    refused = main(["sync", str(path), "--report", str(tmp_path / "refused.xlsx")],
                   environ={"ATOMSCALE_API_KEY": KEY[::-1] + "x",
                            "ATOMSCALE_API_URL": echo_server},
                   stdout=refused_out, stderr=refused_err)
    assert refused == 2
    texts = {"stdout": out.getvalue(), "stderr": err.getvalue(), "log": log.read_text(),
             "refused": refused_out.getvalue() + refused_err.getvalue()}
    assert texts["stderr"].count("***") >= 20  # the failed rows' lines: the server did quote it
    cells = _workbook_texts(report)
    assert any("***" in c for c in cells)
    texts |= {f"report cell {n}": c for n, c in enumerate(cells)}
    found = {name: leaks(text, KEY) for name, text in texts.items() if leaks(text, KEY)}
    assert not found, found


# ------------------------------------------------------------------------------ check

CHECK_SHEET = ("sample_id,sample_name,layer_id,composition_string,orientation,{header}\n"
               "1,S,1,BaTiO3,001,{key}\n"
               "1,S,2,{upper},001,x\n"
               "1,S,3,BaTiO3 {short},001,x\n"
               "{key},S,4,BaTiO3,001,x\n"
               "1,{key},5,SrTiO3,{key},x\n")


def _lab(folder: Path, key: str) -> Path:
    """The README's nightly set-up: the key in a file named by layer-sync.toml, beside the
    sheet; and the key pasted into the sheet, as is, in upper case and cut short."""
    (folder / "key.txt").write_text(key + "\n", encoding="utf-8")
    (folder / "key.txt").chmod(0o600)
    (folder / "layer-sync.toml").write_text('api_key_file = "key.txt"\n', encoding="utf-8")
    sheet = folder / "lab.csv"
    sheet.write_text(CHECK_SHEET.format(key=key, header=key, upper=key.upper(), short=key[:14]),
                     encoding="utf-8")
    return sheet


@pytest.mark.parametrize("report", [False, True])
def test_check_with_the_key_file_named_in_the_config_leaks_no_pasted_key(tmp_path, monkeypatch,
                                                                        report):
    _lab(tmp_path, KEY)
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    args = ["check", "lab.csv"] + (["--report", "checked.xlsx"] if report else [])
    code = main(args, environ={}, stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    texts = [out.getvalue(), err.getvalue()]
    assert "[error]" in texts[0] and "***" in texts[0]
    if report:
        texts += _workbook_texts(tmp_path / "checked.xlsx")
    assert not [t for t in texts if leaks(t, KEY)], [t for t in texts if leaks(t, KEY)]


def test_check_from_another_folder_with_config_knows_the_key_file(tmp_path, monkeypatch):
    lab = tmp_path / "lab"
    lab.mkdir()
    _lab(lab, KEY)
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", "lab/lab.csv", "--config", "lab/layer-sync.toml", "--report",
                 "lab/c.xlsx"], environ={}, stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    texts = [out.getvalue(), err.getvalue(), *_workbook_texts(lab / "c.xlsx")]
    assert not [t for t in texts if leaks(t, KEY)]


def test_check_file_writes_every_known_key_as_stars_in_its_outcome(tmp_path):
    sheet = _lab(tmp_path, KEY)
    outcome = check_file(sheet, api_key_file=tmp_path / "key.txt")
    table = outcome.rows_table()
    cells = [str(v) for row in table.rows() for v in row] + list(table.row_header)
    assert any("***" in c for c in cells)
    assert not [c for c in cells if leaks(c, KEY)]


def test_the_summary_of_a_check_leaks_no_key_on_a_stream_of_its_own(tmp_path):
    """A library user printing the summary to a plain stream (no redacting stream around it)."""
    sheet = _lab(tmp_path, KEY)
    out = io.StringIO()
    print_check(check_file(sheet, api_key_file=tmp_path / "key.txt"), out, color=False)
    assert "[error]" in out.getvalue() and not leaks(out.getvalue(), KEY), out.getvalue()


@pytest.mark.parametrize("flag", ["--timeout", "--sheet", "--report"])
def test_a_key_from_the_config_pasted_into_a_flag_is_not_echoed(tmp_path, monkeypatch, flag):
    """The key of a key file named only in layer-sync.toml is known before the arguments are
    read, so an argument error that quotes it shows `***`."""
    _lab(tmp_path, KEY)
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    main(["check", "lab.csv", flag, KEY], environ={}, stdout=out, stderr=err)
    assert not leaks(out.getvalue() + err.getvalue(), KEY), err.getvalue()


def test_a_key_of_exactly_eight_characters_is_a_real_key_found_inside_words():
    """The line between a made-up sandbox key (replaced only where it stands alone) and a
    real one is eight characters: a key of exactly eight is found anywhere, in any form."""
    from layer_sync.core.secrets import Redactor

    key = "Ab3dE5gH"
    redactor = Redactor([key])
    for text in (f"x{key}x", f"token={key.lower()}&", f"quoted {key.upper()}!"):
        assert key.lower() not in redactor.redact(text).lower(), text
    assert Redactor(["Ab3dE5g"]).redact("xAb3dE5gx") == "xAb3dE5gx"  # seven: a sandbox key
