"""Where layer-sync.toml is found (beside the sheet, then here), how its values are named in
errors (the line in the file, not a flag nobody typed), and how files editors write in other
encodings end (one line, exit 2, what to do)."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from layer_sync.cli import main

from .conftest import API_KEY, dead_url, key_file_line
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
    (lab / "layer-sync.toml").write_text(f'api_url = "{server.url}"\nkeep_reports = 3\n'
                                        + key_file_line(lab))
    log = lab / "night.log"
    code, out, err = _cli(["sync", str(lab / "stacks.csv"), "--json", "--log-file", str(log)])
    assert code == 0, err
    assert _last_json(out)["api_url"] == server.url
    assert f"settings from {lab / 'layer-sync.toml'}" in log.read_text()


def test_beside_the_sheet_wins_over_the_current_folder(server, lab, tmp_path):
    (lab / "layer-sync.toml").write_text(f'api_url = "{server.url}"\n' + key_file_line(lab))
    (tmp_path / "home" / "layer-sync.toml").write_text(f'api_url = "{dead_url("not-this")}"\n')
    code, out, err = _cli(["sync", str(lab / "stacks.csv"), "--json", "--dry-run"])
    assert code == 0, err
    assert _last_json(out)["api_url"] == server.url


def test_the_current_folder_is_used_when_none_is_beside_the_sheet(server, lab, tmp_path):
    home = tmp_path / "home"
    (home / "layer-sync.toml").write_text(f'api_url = "{server.url}"\n' + key_file_line(home))
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


def test_the_environments_key_is_never_sent_to_a_url_only_the_file_names(server, lab):
    """A layer-sync.toml beside a sheet in a shared folder must not decide where the
    environment's key goes: nothing is sent, one line says what to do."""
    (lab / "layer-sync.toml").write_text(f'api_url = "{server.url}"\n')
    for command in (["sync", "--dry-run"], ["check"], ["sync"]):
        code, out, err = _cli([command[0], str(lab / "stacks.csv"), *command[1:], "--json"])
        assert code == 2 and "the key would come from ATOMSCALE_API_KEY" in err, err
        assert _last_json(out)["reason"]["kind"] == "bad_configuration"
    assert server.stats.total == 0
    # The URL from the command line or the environment: the environment's key goes there.
    code, _, err = _cli(["sync", str(lab / "stacks.csv"), "--dry-run", "--api-url", server.url])
    assert code == 0, err


def test_a_file_that_names_the_url_brings_its_own_key_over_the_environments(server, lab):
    (lab / "layer-sync.toml").write_text(f'api_url = "{server.url}"\n' + key_file_line(lab))
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(lab / "stacks.csv"), "--dry-run"], stdout=out, stderr=err,
                environ={"ATOMSCALE_API_KEY": "someone-elses-key-0000"})
    assert code == 0, err.getvalue()  # the file's key was sent (the sandbox refuses others)


@pytest.mark.parametrize("url", ["https://API.atomscale.ai", "https://api.atomscale.ai:443/",
                                 "https://api.atomscale.ai./"])
def test_the_public_api_however_spelled_takes_the_environments_key(lab, url):
    (lab / "layer-sync.toml").write_text(f'api_url = "{url}"\n')
    code, _, err = _cli(["check", str(lab / "stacks.csv"), "--offline"])
    assert code == 0, err


@pytest.mark.parametrize("url", ["http://api.atomscale.ai/", "https://api.atomscale.ai.evil/",
                                 "https://api.atomscale.ai/other/"])
def test_anything_else_is_not_the_public_api(lab, url):
    (lab / "layer-sync.toml").write_text(f'api_url = "{url}"\n')
    code, _, err = _cli(["check", str(lab / "stacks.csv"), "--offline"])
    assert code == 2 and "the key would come from ATOMSCALE_API_KEY" in err, err
