"""Where layer-sync.toml is found (beside the sheet, then here), how its values are named in
errors (the line in the file, not a flag nobody typed), and how files editors write in other
encodings end (one line, exit 2, what to do)."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from layer_sync.cli import main

from .conftest import API_KEY, dead_url
from .test_config import CANONICAL, server  # noqa: F401  (the seeded sandbox)


def _cli(args):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A lab folder with a sheet, and cron's starting folder (the home) elsewhere."""
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "stacks.csv").write_text(CANONICAL, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    return folder


def test_the_file_beside_the_sheet_is_used_when_cron_starts_elsewhere(server, lab):
    (lab / "layer-sync.toml").write_text(f'api_url = "{server.url}"\nkeep_reports = 3\n')
    log = lab / "night.log"
    code, out, err = _cli(["sync", str(lab / "stacks.csv"), "--json", "--log-file", str(log)])
    assert code == 0, err
    assert _last_json(out)["api_url"] == server.url
    assert f"settings from {lab / 'layer-sync.toml'}" in log.read_text()


def test_beside_the_sheet_wins_over_the_current_folder(server, lab, tmp_path):
    (lab / "layer-sync.toml").write_text(f'api_url = "{server.url}"\n')
    (tmp_path / "home" / "layer-sync.toml").write_text(f'api_url = "{dead_url("not-this")}"\n')
    code, out, err = _cli(["sync", str(lab / "stacks.csv"), "--json", "--dry-run"])
    assert code == 0, err
    assert _last_json(out)["api_url"] == server.url


def test_the_current_folder_is_used_when_none_is_beside_the_sheet(server, lab, tmp_path):
    (tmp_path / "home" / "layer-sync.toml").write_text(f'api_url = "{server.url}"\n')
    code, out, err = _cli(["sync", str(lab / "stacks.csv"), "--json", "--dry-run"])
    assert code == 0, err
    assert _last_json(out)["api_url"] == server.url


def test_a_value_from_the_file_is_named_as_the_files_line_not_as_a_flag(lab):
    book = lab / "stacks.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Stacks"
    wb.active.append(["sample_id", "layer_id"])
    wb.active.append([1, 1])
    wb.save(book)
    (lab / "layer-sync.toml").write_text('sheet = "Old stacks"\n')
    code, _, err = _cli(["check", str(book)])
    assert code == 2 and "--sheet" not in err
    assert f"`sheet` in {lab / 'layer-sync.toml'}" in err, err
    code, _, err = _cli(["check", str(book), "--sheet", "Old stacks"])  # typed: named as typed
    assert code == 2 and "--sheet" in err and "layer-sync.toml" not in err, err


def test_the_files_sheet_does_not_break_a_csv_beside_it(lab):
    (lab / "layer-sync.toml").write_text('sheet = "Stacks"\n')
    code, _, err = _cli(["check", str(lab / "stacks.csv")])
    assert code == 0, err
    code, _, err = _cli(["check", str(lab / "stacks.csv"), "--sheet", "Other"])  # typed: refused
    assert code == 2 and "text file with no sheets" in err and "--sheet" in err


@pytest.mark.parametrize("raw, words", [
    ('sheet = "Stacks" # café\n'.encode("cp1252"), "line 1 is not UTF-8 text (a byte 0xE9"),
    ("keep_reports = 5\n".encode("utf-16"), "saved as UTF-16"),
    ("keep_reports = 5\n".encode("utf-16-be"), "saved as UTF-16"),
    (b"# ok\n" * 300_000, "too large for a config file"),
])
def test_a_file_in_another_encoding_is_one_line_saying_what_to_do(lab, raw, words):
    (lab / "layer-sync.toml").write_bytes(raw)
    code, out, err = _cli(["check", str(lab / "stacks.csv"), "--json"])
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert "internal error" not in err and "UTF-8" in err or "too large" in err
    assert _last_json(out)["reason"]["kind"] == "bad_configuration"


def test_utf8_with_a_bom_is_read_as_utf8(lab):
    (lab / "layer-sync.toml").write_bytes('\ufeffkeep_reports = 5\n[columns]\n"Cafè Film" = "composition_string"\n'
                                          .encode("utf-8"))
    code, _, err = _cli(["check", str(lab / "stacks.csv")])
    assert code == 0, err
