"""`layer-sync.toml` (or --config PATH): options and a lab's own column names, flags win."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from layer_sync.cli import main
from layer_sync.cli.config import OPTIONS, load_config

from .conftest import API_KEY, dead_url, key_file_line

CANONICAL = ("sample_id,layer_id,composition_string,orientation,space_group\n"
             "1,1,SrTiO3,001,Pm-3m\n"
             "1,2,BaTiO3,111,99\n"
             "2,1,PbTiO3,001,\n")
LAB = ("Stack,Cut,Film,Miller,Group\n"  # Stack: sample_id here; Cut: the layer number
       "1,1,SrTiO3,001,Pm-3m\n"
       "1,2,BaTiO3,111,99\n"
       "2,1,PbTiO3,001,\n")
LAB_TOML = """\
[columns]
"Stack" = "sample_id"
"Cut" = "layer_id"
"Film" = "composition_string"
"Miller" = "orientation"
"Group" = "space_group"
"""


def _cli(args, env=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ=env if env is not None else {"ATOMSCALE_API_KEY": API_KEY},
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def server(sandbox):
    sandbox.store.seed([{"id": 1, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 1,
                         "composition_string": "SrTiO3", "orientation": "110"},
                        {"id": 2, "sample_id": 2, "sample_name": "P", "substrate": "Si"}])
    sandbox.stats.reset()
    return sandbox


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_a_lab_sheet_with_its_own_names_syncs_like_the_canonical_one(server, tmp_path, monkeypatch):
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "stacks.csv").write_text(LAB, encoding="utf-8")
    (lab / "layer-sync.toml").write_text(f'api_url = "{server.url}"\n' + key_file_line(lab) + LAB_TOML,
                                        encoding="utf-8")
    monkeypatch.chdir(lab)  # the file is found in the current folder
    code, out, err = _cli(["sync", "stacks.csv", "--json", "--report", "r.xlsx"])
    assert code == 0, err
    payload = _last_json(out)
    assert (payload["rows"], payload["created"], payload["updated"], payload["invalid"]) == (3, 2, 1, 0)
    # The canonical sheet with the same values now has nothing left to do.
    canonical = tmp_path / "canonical.csv"
    canonical.write_text(CANONICAL, encoding="utf-8")
    code, out, err = _cli(["sync", str(canonical), "--api-url", server.url, "--dry-run", "--json",
                           "--report", str(tmp_path / "c.xlsx")])
    assert code == 0, err
    payload = _last_json(out)
    assert (payload["unchanged"], payload["created"], payload["updated"]) == (3, 0, 0)


def test_without_the_mapping_the_lab_sheet_has_no_header(server, tmp_path):
    path = tmp_path / "stacks.csv"
    path.write_text(LAB, encoding="utf-8")
    code, _, err = _cli(["sync", str(path), "--api-url", server.url, "--dry-run"])
    assert code == 2 and "no recognisable header" in err


def test_check_uses_the_mapping_too(tmp_path, monkeypatch):
    (tmp_path / "stacks.csv").write_text(LAB.replace("BaTiO3,111", "BaTiO3,1"), encoding="utf-8")
    (tmp_path / "layer-sync.toml").write_text(LAB_TOML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(["check", "stacks.csv"], env={})
    assert code == 1, err
    assert "stacks.csv!D3 [error]" in out


@pytest.mark.parametrize("text,words", [
    ("concurrenzy = 4\n", "unknown option 'concurrenzy'"),
    ("[colums]\n'Film' = 'composition_string'\n", "unknown option 'colums'"),
    ('[columns]\n"Film" = "composition"\n', "[columns] 'Film' = \"composition\": no such field"),
    ('api_key = "s3cret-value"\n', "only api_key_file is accepted"),
    ('token = "s3cret-value"\n', "only api_key_file is accepted"),
    ('concurrency = "eight"\n', "concurrency must be a whole number"),
    ("concurrency = 0\n", "concurrency must be 1 or more"),
    ("concurrency = 100000000\n", "concurrency must be at most 64"),
    ("timeout = 1e309\n", "at most 3600 seconds"),
    ("timeout = -1\n", "timeout must be more than 0"),
    ('dry_run = "yes"\n', "dry_run must be true or false"),
    ("report = 3\n", "report must be a text"),
    ("dry_run = \n", "not valid TOML"),
    ('[columns]\n"Film" = "composition_string"\ndry_run = true\n', "above the [columns] table"),
])
def test_a_bad_config_exits_2_naming_the_key(tmp_path, text, words):
    config = tmp_path / "lab.toml"
    config.write_text(text, encoding="utf-8")
    sheet = tmp_path / "lab.csv"
    sheet.write_text(CANONICAL, encoding="utf-8")
    code, out, err = _cli(["sync", str(sheet), "--config", str(config), "--json"])
    assert code == 2 and words in err and str(config) in err, err
    assert "s3cret" not in err + out
    assert _last_json(out)["exit_code"] == 2


def test_a_missing_config_file_exits_2(tmp_path):
    code, _, err = _cli(["check", str(tmp_path / "x.csv"), "--config", str(tmp_path / "nope.toml")])
    assert code == 2 and "nope.toml does not exist" in err


def test_flags_win_over_the_file_and_the_file_over_the_defaults(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.csv").write_text(CANONICAL, encoding="utf-8")
    (tmp_path / "layer-sync.toml").write_text(
        f'api_url = "{server.url}"\ndry_run = true\nreport = "out/from-file.xlsx"\n'
        + key_file_line(tmp_path), encoding="utf-8")
    code, out, err = _cli(["sync", "lab.csv", "--json"])
    assert code == 0, err
    payload = _last_json(out)
    assert payload["dry_run"] is True and server.stats.by_method.get("POST", 0) == 0
    assert Path(payload["report"]) == tmp_path / "out" / "from-file.xlsx"
    code, out, err = _cli(["sync", "lab.csv", "--json", "--report", "flag.xlsx"])
    assert code == 0, err
    assert _last_json(out)["report"] == "flag.xlsx"


def test_the_environment_wins_over_the_file_for_the_api(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.csv").write_text(CANONICAL, encoding="utf-8")
    (tmp_path / "layer-sync.toml").write_text(f'api_url = "{dead_url("config")}"\n'
                                             'api_key_file = "missing.key"\n', encoding="utf-8")
    code, _, err = _cli(["sync", "lab.csv", "--dry-run", "--report", "r.xlsx"],
                        env={"ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": server.url})
    assert code == 0, err


def test_a_key_file_is_found_beside_the_config(server, tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    key = folder / "atomscale.key"
    key.write_text(API_KEY + "\n", encoding="utf-8")
    key.chmod(0o600)
    config = folder / "cron.toml"
    config.write_text(f'api_url = "{server.url}"\napi_key_file = "atomscale.key"\n', encoding="utf-8")
    (tmp_path / "lab.csv").write_text(CANONICAL, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(["sync", "lab.csv", "--config", str(config), "--dry-run",
                         "--report", "r.xlsx"], env={})
    assert code == 0, err


def test_every_sync_flag_can_go_in_the_file():
    out = io.StringIO()
    main(["sync", "--help"], environ={}, stdout=out, stderr=io.StringIO())
    flags = set(re.findall(r"--([a-z][a-z-]+)", out.getvalue()))
    flags -= {"help", "config", "api-key"}
    assert {f.replace("-", "_") for f in flags} <= set(OPTIONS)


def test_load_config_returns_options_and_columns(tmp_path):
    config = tmp_path / "layer-sync.toml"
    config.write_text('sheet = "Stacks"\nconcurrency = 4\ntimeout = 10\ncreate_samples = true\n'
                      '[columns]\n"Film" = "composition_string"\n', encoding="utf-8")
    loaded = load_config(config)
    assert loaded.options == {"sheet": ["Stacks"], "concurrency": 4, "timeout": 10.0,
                              "create_samples": True}
    assert loaded.columns == {"Film": "composition_string"}


@pytest.mark.parametrize("make, words", [
    (lambda d: (d / "deep.toml").write_text("a = " + "[" * 3000 + "]" * 3000 + "\n") and d / "deep.toml",
     "nested far too deep"),
    (lambda d: (os.mkfifo(d / "fifo.toml"), d / "fifo.toml")[1], "is not a regular file"),
    (lambda d: d, "is not a regular file"),
])
def test_a_config_that_is_no_toml_file_is_one_line_and_exit_2(tmp_path, make, words):
    config = make(tmp_path)
    sheet = tmp_path / "lab.csv"
    sheet.write_text(CANONICAL, encoding="utf-8")
    code, out, err = _cli(["sync", str(sheet), "--config", str(config), "--json"])
    assert code == 2 and words in err and "internal error" not in err
    assert _last_json(out)["exit_code"] == 2


def test_a_key_file_that_is_a_folder_is_one_line_and_exit_2(tmp_path):
    sheet = tmp_path / "lab.csv"
    sheet.write_text(CANONICAL, encoding="utf-8")
    code, out, err = _cli(["sync", str(sheet), "--api-key-file", str(tmp_path), "--json"])
    assert code == 2 and "is not a regular file" in err and "internal error" not in err
