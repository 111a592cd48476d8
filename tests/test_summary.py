"""The terminal summary: counts, then the changes Terraform-style (+ ~ !), coloured on a terminal."""

from __future__ import annotations

import io

import pytest

from layer_sync.cli import main
from layer_sync.cli.summary import count_line, print_summary, use_color
from layer_sync.core.text import plural

from .conftest import API_KEY


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Ascii(io.StringIO):
    encoding = "ascii"


def _cli(args):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def server(sandbox):
    sandbox.store.seed([{"id": 1, "sample_id": 101, "sample_name": "BTO", "substrate": "Si",
                         "layer_id": 1, "composition_string": "SrTiO3", "orientation": "001"},
                        {"id": 2, "sample_id": 105, "sample_name": "PZT", "substrate": "Si"}])
    sandbox.stats.reset()
    return sandbox


@pytest.fixture
def sheet(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,composition_string,orientation\n"
                    "101,1,SrTiO3,111\n"
                    "105,2,BaTiO3,001\n"
                    "105,3,PbTiO3,1\n", encoding="utf-8")
    return path


def test_dry_run_lists_what_would_be_done(server, sheet, tmp_path):
    code, out, err = _cli(["sync", str(sheet), "--api-url", server.url, "--dry-run",
                           "--report", str(tmp_path / "r.xlsx")])
    assert code == 1, err
    assert "3 rows: would create 1, would update 1, 0 unchanged, 1 invalid" in out
    lines = out.splitlines()
    assert "  + 105/2 BaTiO3 001" in lines
    assert "  ~ 101/1 orientation: 001 \u2192 111" in lines
    assert any(line.startswith("  ! lab.csv!D4 [error]") for line in lines)
    # grouped: creates, then updates, then problems
    order = [next(i for i, line in enumerate(lines) if line.startswith(f"  {mark} "))
             for mark in "+~!"]
    assert order == sorted(order)
    assert "\x1b[" not in out  # not a terminal: plain text


def test_a_real_run_lists_what_was_done(server, sheet, tmp_path):
    code, out, _ = _cli(["sync", str(sheet), "--api-url", server.url, "--report",
                         str(tmp_path / "r.xlsx")])
    assert code == 1
    assert "3 rows: 1 created, 1 updated" in out
    assert "  + 105/2 BaTiO3 001" in out.splitlines()


def test_each_group_shows_20_then_how_many_more(server, tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,composition_string\n"
                    + "".join(f"105,{n},BaTiO3\n" for n in range(1, 26)), encoding="utf-8")
    code, out, _ = _cli(["sync", str(path), "--api-url", server.url, "--dry-run",
                         "--report", str(tmp_path / "r.xlsx")])
    assert code == 0
    creates = [line for line in out.splitlines() if line.startswith("  + ")]
    assert len(creates) == 20 and creates[0] == "  + 105/1 BaTiO3" and creates[-1] == "  + 105/20 BaTiO3"
    assert "    \u2026 and 5 more in the report" in out.splitlines()


def test_plurals_and_the_dry_run_wording():
    counts = {"rows": 1, "created": 1, "updated": 0, "unchanged": 0, "invalid": 0, "failed": 0,
              "skipped": 0}
    assert count_line(counts, dry_run=True).startswith("1 row: would create 1, would update 0")
    assert count_line({**counts, "rows": 2}, dry_run=False).startswith("2 rows: 1 created, 0 updated")
    assert (plural(1, "layer"), plural(2, "layer"), plural(1, "retry", "retries"),
            plural(0, "retry", "retries")) == ("1 layer", "2 layers", "1 retry", "0 retries")


def _outcome(server, sheet):
    from layer_sync import sync_file

    return sync_file(sheet, api_key=API_KEY, api_url=server.url, dry_run=True, report=False)


def test_colour_on_a_terminal_green_yellow_red(server, sheet):
    out = _Terminal()
    print_summary(_outcome(server, sheet), out, color=None)
    text = out.getvalue()
    assert "\x1b[1;32m+\x1b[0m 105/2 BaTiO3 001" in text      # green +
    assert "\x1b[1;33m~\x1b[0m 101/1 orientation" in text      # yellow ~
    assert "\x1b[1;31m!\x1b[0m lab.csv!D4 [error]" in text     # red !, and [error] kept as text


def test_no_color_and_dumb_terminals_get_plain_text():
    terminal = _Terminal()
    assert use_color(terminal, {}) is True
    assert use_color(terminal, {"NO_COLOR": "1"}) is False
    assert use_color(terminal, {"TERM": "dumb"}) is False
    assert use_color(io.StringIO(), {}) is False


def test_a_stream_that_cannot_take_arrows_gets_ascii(server, sheet):
    out = _Ascii()
    print_summary(_outcome(server, sheet), out)
    text = out.getvalue()
    assert "~ 101/1 orientation: 001 -> 111" in text
    text.encode("ascii")


@pytest.mark.parametrize("stream", [_Terminal, io.StringIO])
def test_control_characters_from_the_server_never_reach_the_terminal(sandbox, tmp_path, stream):
    """A server value with an escape sequence (it could rewrite the screen) or a NUL is shown
    with the replacement character, coloured or plain; our own colours stay."""
    from layer_sync.run.sync import sync_file

    sandbox.store.seed([{"id": 1, "sample_id": 101, "sample_name": "BTO", "substrate": "Si",
                         "layer_id": 1, "composition_string": "Sr\x00Ti\x1b[2JO3\x9b",
                         "orientation": "001"}])
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,composition_string\n101,1,SrTiO3\n", encoding="utf-8")
    outcome = sync_file(path, api_key=API_KEY, api_url=sandbox.url, dry_run=True, report=False)
    out = stream()
    print_summary(outcome, out, color=None)
    text = out.getvalue()
    assert "Sr\ufffdTi\ufffd[2JO3\ufffd" in text
    assert "\x00" not in text and "\x9b" not in text and "\x1b[2J" not in text


@pytest.mark.parametrize("stream", [_Terminal, io.StringIO])
def test_a_value_of_thousands_of_characters_is_cut_on_the_terminal_and_says_how_much(
        sandbox, tmp_path, stream):
    """A server name of 40,000 characters quoted in a message: the line shows 500 of them and
    how many more there are (the report has the whole message)."""
    from layer_sync.run.sync import sync_file

    sandbox.store.seed([{"id": 1, "sample_id": 101, "sample_name": "N" * 40_000,
                         "substrate": "Si", "layer_id": 1, "composition_string": "SrTiO3"}])
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,sample_name,layer_id,composition_string\n101,BTO,1,SrTiO3\n",
                    encoding="utf-8")
    outcome = sync_file(path, api_key=API_KEY, api_url=sandbox.url, dry_run=True, report=False)
    assert any(len(issue.message) > 40_000 for issue in outcome.issues)
    out = stream()
    print_summary(outcome, out, color=None)
    lines = out.getvalue().splitlines()
    problem = next(line for line in lines if "sample_id 101 is" in line)
    assert len(problem) < 600 and problem.endswith(" more characters)")
    assert max(len(line) for line in lines) < 600


def test_the_key_is_replaced_before_a_long_line_is_cut_never_left_in_part():
    from layer_sync.cli.summary import MAX_LINE, _Writer
    from layer_sync.core.secrets import Redactor

    key = "sk-live-0123456789abcdef"
    out = io.StringIO()
    writer = _Writer(out, color=False, redactor=Redactor([key]))
    writer.plain("y" * (MAX_LINE - 10) + key + "z" * 600)  # the cut would fall inside the key
    text = out.getvalue()
    assert "sk-" not in text and "***" in text and text.rstrip().endswith(" more characters)")
