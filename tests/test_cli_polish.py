"""What a new user tripped over at the command line: a mistyped option or command, a
layer-sync.toml value, the help's defaults, a blank row in a stack, the order of the
created rows, the server line, a formula's text in the Issues, an Excel owner file, a taken
sandbox port, the demo's JSON line."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

import pytest

from layer_sync.cli import main

from .conftest import API_KEY, key_file_line

TOML_URL = "http://127.0.0.1:9/from-the-toml/"


def _cli(args, env=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ=env if env is not None else {"ATOMSCALE_API_KEY": API_KEY},
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _json(out: str) -> dict:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A sheet with a layer-sync.toml beside it naming an API URL, the current folder."""
    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id\n1,1\n", encoding="utf-8")
    (tmp_path / "layer-sync.toml").write_text(f'api_url = "{TOML_URL}"\n' + key_file_line(tmp_path),
                                              encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return sheet


# ---------------------------------------------------------------------------- 1. the line

def test_a_mistyped_option_on_the_cron_line_ends_like_any_early_failure(lab, tmp_path):
    log = tmp_path / "layer-sync.log"
    code, out, err = _cli(["sync", str(lab), "-q", "--json", "--log-file", str(log),
                           "--keep-report", "5"])
    assert code == 2
    line = ("unrecognized option: --keep-report (did you mean --keep-reports?); "
            "see layer-sync sync --help")
    assert err.strip() == f"layer-sync: error: {line}"  # one line, no usage block
    payload = _json(out)
    assert payload["reason"] == {"kind": "bad_arguments", "message": line}
    assert payload["command"] == "sync" and payload["input"]["path"] == str(lab)
    assert payload["api_url"] == TOML_URL  # what the run would have used: the toml's
    assert line in log.read_text(encoding="utf-8")  # the dated line, as for any failure


def test_the_api_url_is_the_flag_then_the_environment_then_the_toml(lab):
    env = {"ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": "http://127.0.0.1:9/env/"}
    assert _json(_cli(["sync", str(lab), "--jsn"], env)[1])["api_url"] == \
        "http://127.0.0.1:9/env/"
    out = _cli(["sync", str(lab), "--json", "--nope", "--api-url", "http://127.0.0.1:9/flag/"],
               env)[1]
    assert _json(out)["api_url"] == "http://127.0.0.1:9/flag/"


def test_the_api_url_is_null_when_it_cannot_be_told(lab, tmp_path):
    # A misspelt --api-url: the run would have used what it names, which is not known.
    payload = _json(_cli(["sync", str(lab), "--json", "--api-ulr", "http://x/"])[1])
    assert payload["api_url"] is None
    assert "--api-ulr (did you mean --api-url?)" in payload["reason"]["message"]
    # A config file that cannot be read: neither is its URL.
    (tmp_path / "layer-sync.toml").write_text("api_url = \n", encoding="utf-8")
    assert _json(_cli(["sync", str(lab), "--json", "--nope"])[1])["api_url"] is None
    assert _json(_cli(["sync", str(lab), "--json"])[1])["api_url"] is None
    # A line argparse cannot read at all: scanned for --json only.
    assert _json(_cli(["sync", "--json"])[1])["api_url"] is None


def test_a_misspelt_json_flag_still_gives_the_json_line(lab):
    code, out, err = _cli(["sync", str(lab), "--jsn"])
    assert code == 2 and "--jsn (did you mean --json?)" in err
    assert _json(out)["exit_code"] == 2


@pytest.mark.parametrize("args,said", [
    (["syn", "lab.csv"], "unknown command 'syn' (did you mean sync?)"),
    (["chek", "lab.csv"], "unknown command 'chek' (did you mean check?)"),
    (["sync", "lab.csv", "--create-sample"], "--create-sample (did you mean --create-samples?)"),
    (["sync", "lab.csv", "--dry"], "--dry (did you mean --dry-run?)"),
    (["check", "lab.csv", "--ofline"], "--ofline (did you mean --offline?)"),
    (["export", "x.csv", "--forse"], "--forse (did you mean --force?)"),
    (["sandbox", "--prot", "0"], "--prot (did you mean --port?)"),
    (["--json", "sync", "lab.csv"], "--json (it goes after the command"),
])
def test_a_near_miss_names_the_real_option_of_its_command(args, said):
    code, _, err = _cli(args)
    assert code == 2 and said in err, err
    command = args[0] if args[0] in ("sync", "check", "export", "sandbox") else args[1]
    pointer = ("see layer-sync --help" if said.startswith("unknown command")
               else f"see layer-sync {command} --help")
    assert err.rstrip().endswith(pointer)
    assert len(err.strip().splitlines()) == 1


def test_a_refused_value_leaves_the_rest_of_the_line_read(lab, tmp_path):
    log = tmp_path / "runs.log"
    code, out, err = _cli(["sync", str(lab), "--timeout", "abc", "--json", "--log-file",
                           str(log)])
    assert code == 2 and "argument --timeout: 'abc' is not a number" in err
    assert "see layer-sync sync --help" in err
    payload = _json(out)
    assert payload["api_url"] == TOML_URL and payload["input"]["path"] == str(lab)
    assert "'abc' is not a number" in log.read_text(encoding="utf-8")
    # A missing PATH: the line is scanned for --json and --log-file.
    code, out, _ = _cli(["sync", "--json", "--log-file", str(log)])
    assert code == 2 and _json(out)["reason"]["message"].startswith(
        "the following arguments are required: PATH")
    assert log.read_text(encoding="utf-8").count("exit code 2 (bad_arguments)") == 2


def test_a_value_after_an_unknown_option_is_never_shown(lab, tmp_path):
    log = tmp_path / "x.log"
    code, out, err = _cli(["sync", str(lab), "--json", "--log-file", str(log),
                           "--tokn", "s3cr3t-value"])
    assert code == 2 and "s3cr3t-value" not in out + err + log.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- 2. the toml

@pytest.mark.parametrize("text,said", [
    ("dry_run = false\ncreate_samples = yes\n",
     ("line 2 is not valid TOML (invalid value): create_samples = yes; true and false are "
      "the words")),
    ("create_samples = True\n", "true and false are the words"),
    ("sheet = Stacks\n", 'a text goes in double quotes (sheet = "Stacks")'),
    ("timeout = 30s\n", "a number goes without quotes or units (timeout = 30)"),
    ('report_dir = "C:\\Lab\\reports"\n', "a Windows path goes in single quotes"),
    ("sheet = \"A\"\nsheet = \"B\"\n", "sheet is given twice"),
    ("api_url = \n", "give a value after the = sign"),
    ("keep_report = 60\n", "unknown option 'keep_report' (did you mean keep_reports?)"),
    ("[columns]\n\"Film\" = \"compositon_string\"\n", "(did you mean composition_string?)"),
])
def test_a_config_mistake_says_the_line_and_how_it_is_written(text, said, lab, tmp_path):
    (tmp_path / "layer-sync.toml").write_text(text, encoding="utf-8")
    code, out, err = _cli(["check", str(lab), "--offline", "--json"])
    assert code == 2 and said in err, err
    assert _json(out)["reason"]["kind"] == "bad_configuration"


def test_a_config_line_that_may_hold_the_key_is_never_shown(lab, tmp_path):
    (tmp_path / "layer-sync.toml").write_text("api_key = hunter2-secret\n", encoding="utf-8")
    code, out, err = _cli(["check", str(lab), "--offline", "--json"])
    assert code == 2 and "hunter2" not in out + err and "api_key_file" in err


# ---------------------------------------------------------------------------- 3. the help

def _help(command: str, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "2000")  # one line per option: no word cut at a hyphen
    code, out, _ = _cli([command, "--help"])
    assert code == 0
    return " ".join(out.split())


def test_the_help_names_the_report_folder_a_run_really_uses(stack, tmp_path, monkeypatch):
    sheet = tmp_path / "sheets" / "lab.csv"
    sheet.parent.mkdir()
    sheet.write_text("sample_id,layer_id,orientation\n1,1,001\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--json"])
    assert code == 0, err
    report = Path(_json(out)["report"])
    assert report.parent.parent == sheet.parent  # beside the sheet
    said = _help("sync", monkeypatch)
    assert (f"--report PATH where the report workbook goes (default: a new file in "
            f"{report.parent.name}{os.sep} beside the sheet") in said
    assert f"(default: {report.parent.name} beside the sheet)" in said  # --report-dir
    assert "reports/layer-sync_" not in said


def _helps(command: str) -> dict[str, str]:
    """Each option's help as --help shows it, by its name (dest)."""
    from layer_sync.cli.arguments import build_parser

    sub = build_parser().commands[command]
    formatter = sub._get_formatter()
    return {action.dest: formatter._expand_help(action) for action in sub._actions
            if action.help and action.help != argparse.SUPPRESS}


def test_every_default_the_help_names_is_the_codes():
    from layer_sync.cli.arguments import build_parser
    from layer_sync.core.options import CheckOptions, ExportOptions, SyncOptions
    from layer_sync.remote.retry import DOWN_AFTER_S
    from layer_sync.remote.settings import DEFAULT_API_URL

    for command, declared in (("sync", SyncOptions), ("check", CheckOptions),
                              ("export", ExportOptions)):
        helps = _helps(command)
        for name, default, spec in declared.declared():
            if spec.flag and spec.kind in ("count", "seconds") and default is not None:
                assert f"default {default:g})" in helps[name], (command, name)
        assert helps["api_url"].endswith(f"else {DEFAULT_API_URL})")
        assert "$ATOMSCALE_API_KEY, else $AS_API_KEY" in helps["api_key_file"]
        # The declarations' own help names no default the code holds elsewhere.
        for name, _, spec in declared.declared():
            assert not any(word in spec.help for word in ("$", "http", "-reports", "reports/", "default 1",
                                                          "default 2", "default 3")), name
    assert f"at least {DOWN_AFTER_S:g} s" in _helps("sync")["max_consecutive_failures"]
    # Every other option's default, as argparse holds it (the sandbox's --port…).
    for command in build_parser().commands:
        sub = build_parser().commands[command]
        helps = _helps(command)
        for action in sub._actions:
            default = action.default
            if (action.dest not in helps or isinstance(default, bool)
                    or default in (None, argparse.SUPPRESS) or isinstance(default, (list, tuple))):
                continue
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            if "default" in helps[action.dest]:
                assert shown in helps[action.dest], (command, action.dest)


# ---------------------------------------------------------------------------- 4. blank rows

def test_a_blank_row_inside_a_stack_is_named_as_what_ended_it(tmp_path):
    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id,composition_string\n1,1,SrTiO3\n\n,2,BaTiO3\n"
                     ",3,SrRuO3\n\n\n,1,GaN\n7,1,AlN\n,2,GaN\n", encoding="utf-8")
    code, out, _ = _cli(["check", str(sheet), "--offline"])
    assert code == 1
    assert ("lab.csv!A4 [error] no sample_id or sample_name: row 3 above is blank: it ended "
            "the stack, and the sample columns are carried down only within a stack; fill in "
            "sample_id (or sample_name) on row 4, or remove the blank row if it is the same "
            "stack (rows 4–5)") in out
    assert "rows 6-7 above are blank: they ended the stack" in out and "on row 8" in out
    assert "A10" not in out  # a stack of its own, carried down from row 9


def test_a_row_without_a_sample_under_the_header_is_said_as_before(tmp_path):
    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id\n,1\n", encoding="utf-8")
    out = _cli(["check", str(sheet), "--offline"])[1]
    assert "the row does not say which target material it belongs to" in out


# ---------------------------------------------------------------------------- 5. the summary

def test_the_created_rows_are_listed_in_sheet_order_whatever_order_they_finished(stack,
                                                                                 tmp_path):
    from layer_sync import sync_file
    from layer_sync.cli.summary import print_summary

    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id,composition_string\n"
                     + "".join(f"1,{n},SrTiO3\n" for n in range(2, 14)), encoding="utf-8")
    outcome = sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=False)
    outcome.results.reverse()  # as if the last row's answer had come first
    out = io.StringIO()
    print_summary(outcome, out, color=False)
    created = [line.split()[1] for line in out.getvalue().splitlines()
               if line.startswith("  + ")]
    assert created == [f"1/{n}" for n in range(2, 14)]


def test_the_server_line_is_in_plain_words_on_the_terminal_and_in_the_report(stack, tmp_path):
    import openpyxl

    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id,composition_string\n1,2,SrTiO3\n", encoding="utf-8")
    report = tmp_path / "r.xlsx"
    code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--report", str(report)])
    assert code == 0, err
    line = "server: took 1 write at a time; never asked us to slow down"
    assert f"  {line}\n" in out
    summary = {row[0].value: row[1].value
               for row in openpyxl.load_workbook(report)["Summary"].iter_rows()}
    assert summary["Server"] == line.removeprefix("server: ")
    sheet.write_text("sample_id,layer_id,composition_string\n1,3,SrTiO3\n", encoding="utf-8")
    code, out, _ = _cli(["sync", str(sheet), "--api-url", stack.url, "--concurrency", "3",
                         "--report", str(report)])
    assert "  server: took 1 write at a time (--concurrency 3); never asked us to slow down" in out


def test_the_pacing_words_name_the_slow_downs_and_the_pace():
    from layer_sync.outcome.results import Riding

    assert Riding(most_in_flight=24, limit=28, adaptive=True, slow_downs=3, pace_per_s=38.0,
                  pace_stated=True).text == ("took up to 24 writes at once; asked us to slow "
                                             "down 3 times; we then kept to 38.0 requests a "
                                             "second, the pace it stated")


# ---------------------------------------------------------------------------- 6. formulas

def test_a_formula_without_a_result_shows_its_text_in_the_issues_as_text(tmp_path):
    import openpyxl

    from layer_sync import check_file

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Stacks"
    for values in (["sample_id", "layer_id", "composition_string", "orientation"],
                   [1, 1, "BaTiO3", "001"], [1, 2, "SrTiO3", "001"],
                   [1, 3, "SrRuO3", "001"], [1, 4, "SrTiO3", "001"],
                   [1, 5, '=IF(A2>0,"Sr&Ti","<x>")', "001"]):
        sheet.append(values)
    path = tmp_path / "lab.xlsx"
    book.save(path)  # openpyxl stores no result for a formula
    report = tmp_path / "checked.xlsx"
    outcome = check_file(path, report=report)
    issue = next(i for i in outcome.issues if i.cell == "C6")
    assert "formula with no stored result" in issue.message
    assert issue.value == '=IF(A2>0,"Sr&Ti","<x>")'
    issues = openpyxl.load_workbook(report)["Issues"]
    header = [c.value for c in issues[1]]
    row = next(r for r in issues.iter_rows(min_row=2) if r[header.index("Cell")].value == "C6")
    value = row[header.index("Value")]
    assert value.value == '=IF(A2>0,"Sr&Ti","<x>")' and value.data_type == "s"


# ---------------------------------------------------------------------------- 7. open in Excel

@pytest.mark.parametrize("mark,program", [("~$lab.csv", "Excel"),
                                          (".~lock.lab.csv#", "LibreOffice")])
def test_a_sheet_open_in_a_spreadsheet_program_is_a_warning_once(mark, program, stack,
                                                                 tmp_path):
    import openpyxl

    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id,composition_string\n1,1,SrTiO3\n", encoding="utf-8")
    (tmp_path / mark).write_bytes(b"\x00owner")
    said = f"lab.csv is open in {program} ({mark}): changes not yet saved are not read"
    code, out, err = _cli(["check", str(sheet), "--offline", "--json"])
    assert code == 0 and err.count(said) == 1  # a warning, never an error
    assert _json(out)["warnings"] == 1 and _json(out)["errors"] == 0
    report = tmp_path / "r.xlsx"
    code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--report", str(report)])
    assert code == 0 and out.count(said) == 1, out
    issues = [[c.value for c in row] for row in openpyxl.load_workbook(report)["Issues"].rows]
    assert [row for row in issues if said in row and "warning" in " ".join(map(str, row))]
    (tmp_path / mark).unlink()
    assert said not in _cli(["check", str(sheet), "--offline"])[1]


# ---------------------------------------------------------------------------- 8, 9.

@pytest.mark.skipif(sys.platform == "win32", reason="Windows lets a second socket take a "
                    "port with SO_REUSEADDR: the sandbox would start and serve")
def test_a_taken_sandbox_port_says_what_to_do():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = _cli(["sandbox", "--port", str(port)])
    assert code == 2
    assert err.startswith(f"layer-sync: error: cannot listen on 127.0.0.1:{port}: ")
    assert err.rstrip().endswith("; choose another --port, or --port 0 for a free one")


def test_the_demos_json_line_says_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = _cli(["demo", "--json"], env={})
    assert code == 0 and _json(out)["command"] == "demo"


def test_an_unusable_config_file_is_logged_in_the_lines_log_file(lab, tmp_path):
    (tmp_path / "layer-sync.toml").write_text("create_samples = yes\n", encoding="utf-8")
    log = tmp_path / "night.log"
    code, _, _ = _cli(["sync", str(lab), "--log-file", str(log)])
    assert code == 2 and "true and false are the words" in log.read_text(encoding="utf-8")
