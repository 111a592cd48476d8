"""Every example in the README and docs/ works when copied: each `layer-sync` command of a
`sh`, `cron` or `bat` block runs against the sandbox (exit 0 or 1, never 2, never a traceback),
and each `layer-sync.toml` block is a config the tool takes with the sample sheet.

(The install and test lines, `pip install …` and `python -m pytest`, are what CI itself runs.)
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from layer_sync.outcome.jsonline import FIELDS, REASONS
from layer_sync.sandbox import SandboxServer
from layer_sync.tools import samples

from .conftest import API_KEY

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(lang: str) -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            if match[1] == lang:
                found.append((page.name, match[2]))
    return found


def _command(line: str) -> str | None:
    """The layer-sync command a shown line runs, or None (`… && layer-sync demo`: the part
    from `layer-sync` on; a line with an ellipsis is a pattern, not a command)."""
    line = line.split("  #")[0].strip()
    if "&& layer-sync " in line:
        line = "layer-sync " + line.rsplit("&& layer-sync ", 1)[1]
    if line.startswith(("layer-sync ", "python -m layer_sync ")) and "…" not in line:
        return line
    return None


def _commands() -> list[tuple[str, list[str]]]:
    """(page, the commands of one block, in order) for every block that shows commands."""
    found = []
    for page, block in _blocks("sh"):
        lines = [c for line in block.replace("\\\n", " ").splitlines()
                 if (c := _command(line)) is not None]
        if lines:
            found.append((page, lines))
    for page, block in _blocks("cron"):
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                found.append((page, [line.split("&&", 1)[1].strip()]))
    for page, block in _blocks("bat"):
        for match in re.finditer(r'/TR "cmd /c cd /d \S+ && (\S+) (.*?)"', block):
            found.append((page, [f"layer-sync {match[2]}"]))
    return found


COMMANDS = _commands()


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A lab's folder: the sample sheets, a key file, a sandbox with the sample's records."""
    samples.write_all(tmp_path)
    for name in ("lab_stacks.xlsx", "lab_stacks.csv"):
        import os

        os.utime(tmp_path / name, (1_000_000_000, 1_000_000_000))  # saved long ago
    key = tmp_path / ".atomscale-key"
    key.write_text(API_KEY + "\n", encoding="utf-8")
    key.chmod(0o600)
    with SandboxServer(api_key=API_KEY, seed=[dict(e) for e in samples.SEED]) as server:
        yield tmp_path, server


def _run(line: str, folder: Path, server: SandboxServer, key_in_env: bool = True,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    line = line.replace("/srv/lab/.venv/bin/", "").replace("/srv/lab", str(folder))
    line = re.sub(r"--port \d+", "--port 0", line)
    line = re.sub(r"\S*layer-sync(\.exe)? ", "layer-sync ", line, count=1)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(folder),
           "ATOMSCALE_API_URL": server.url, "LAYER_SYNC_STILL_SECONDS": "0",
           "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    if key_in_env:
        env["ATOMSCALE_API_KEY"] = API_KEY
    return subprocess.run(["sh", "-c", line], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("page,lines", COMMANDS, ids=[f"{p}: {c[0][:50]}" for p, c in COMMANDS])
def test_every_command_shown_runs(lab, page, lines):
    """The commands of a block run in order, in one lab folder, as a reader would type them."""
    folder, server = lab
    for line in lines:
        if line.split()[1] == "sandbox":  # it serves until stopped: it must start and listen
            _starts_and_listens(line, folder)
            continue
        done = _run(line, folder, server)
        assert done.returncode in (0, 1), f"{page}: {line}\n{done.stderr}"
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def _starts_and_listens(line: str, folder: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "layer_sync",
                             *shlex.split(re.sub(r"--port \d+", "--port 0", line))[1:]],
                            cwd=folder, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        said = proc.stderr.readline() if proc.stderr else ""
        assert "listening on http://127.0.0.1:" in said, said
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("page,block", _blocks("toml"), ids=lambda v: v if v.endswith(".md") else "")
def test_every_layer_sync_toml_shown_is_taken(lab, page, block):
    folder, server = lab
    (folder / "layer-sync.toml").write_text(block.replace("/srv/lab", str(folder)),
                                            encoding="utf-8")
    for line in ("layer-sync check lab_stacks.xlsx", "layer-sync sync lab_stacks.xlsx --dry-run"):
        done = _run(line, folder, server, key_in_env=False)
        assert done.returncode in (0, 1), f"{page}: {line}\n{done.stderr}"


def test_the_docs_show_commands_of_every_kind():
    """The extraction finds what it should (a page restructured must not empty this test)."""
    kinds = {line.split()[1] for _, lines in COMMANDS for line in lines}
    assert {"sync", "check", "template", "export", "demo", "sandbox"} <= kinds
    assert any(page == "README.md" for page, _ in COMMANDS) and _blocks("toml")
    assert any("schtasks" in block for _, block in _blocks("bat"))


def test_the_json_line_page_names_every_field_and_reason():
    text = (ROOT / "docs" / "json-line.md").read_text(encoding="utf-8")
    for name in [*FIELDS, *REASONS]:
        assert f"`{name}`" in text, name


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 150
