"""Every runtime dependency installs from a wheel on every platform and Python we claim.

For each platform (Linux x86_64 and aarch64, macOS x86_64 and arm64, Windows x86_64) and each
Python version from `requires-python`'s lower bound to the newest released, pip resolves the
whole dependency set of pyproject.toml with `--only-binary=:all:` for that platform, without
installing anything (`--dry-run`; pip reads each wheel's metadata, not the wheel). A
dependency that has no wheel there (and is not pure Python) fails the check, naming it, so
that a dependency dropping a platform fails CI, not a technician's install.

    python .ci/check_wheels.py            # exit 0 all resolve, 1 some do not
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The Python versions the project claims (requires-python ">=3.11"): each released one.
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
#: Where the claim is narrower, and why (the README says the same): none today. (spglib,
#: which has no Python 3.14 wheel for Intel Macs, is no longer a runtime dependency: its
#: table of space groups is kept as data, layer_sync/rules/space_groups.json.)
NOT_CLAIMED: dict[tuple[str, str], str] = {}


def _manylinux(arch: str) -> list[str]:
    # glibc 2.17 (CentOS 7) to 2.28 (Debian 10, RHEL 8): a lab's Linux box or ARM server.
    # pip does not widen a manylinux tag to the older ones it includes: list them all.
    return ["manylinux2014_" + arch] + [f"manylinux_2_{n}_{arch}" for n in range(17, 29)]


#: The platforms the project claims, as pip's --platform tags (macOS 12 and later: pip
#: widens a macosx tag to the older versions and to universal2 wheels itself).
PLATFORMS: dict[str, list[str]] = {
    "Linux x86_64": _manylinux("x86_64"),
    "Linux aarch64": _manylinux("aarch64"),
    "macOS x86_64": ["macosx_12_0_x86_64"],
    "macOS arm64": ["macosx_12_0_arm64"],
    "Windows x86_64": ["win_amd64"],
}


def dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lowest = re.fullmatch(r">=\s*(\d+\.\d+)", project["requires-python"].strip())
    if not lowest or lowest.group(1) != PYTHONS[0]:
        sys.exit(f"requires-python is {project['requires-python']!r}, but this check starts "
                 f"at {PYTHONS[0]}: update PYTHONS")
    return list(project["dependencies"])


def resolve(requirements: list[str], platform: str, python: str) -> tuple[bool, str]:
    """Whether pip finds wheels for `requirements` (and everything they need) there; the
    reason when not."""
    abi = "cp" + python.replace(".", "")
    with tempfile.TemporaryDirectory(prefix="layer-sync-wheels-") as target:
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                   "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
                   "--python-version", python, "--implementation", "cp", "--abi", abi,
                   "--target", target, "--report", str(Path(target) / "report.json")]
        for tag in PLATFORMS[platform]:
            command += ["--platform", tag]
        proc = subprocess.run(command + requirements, capture_output=True, text=True,
                              check=False, timeout=600)
    if proc.returncode == 0:
        return True, ""
    found = re.findall(r"No matching distribution found for (\S+)", proc.stderr)
    if found:
        return False, ", ".join(found)
    lines = proc.stderr.strip().splitlines() or [f"pip exited with {proc.returncode}"]
    return False, "pip failed: " + lines[-1]


def _name(requirement: str) -> str:
    """A requirement's project name as pip compares them (`Python_Calamine` = `python-calamine`)."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else requirement


def check(requirements: list[str], platform: str, python: str) -> list[str]:
    """The problems of one platform and Python: empty when the whole set resolves; else each
    dependency pip finds no wheel for (set aside, and the rest resolved again, so that every
    one is named, not only the first)."""
    remaining, problems = list(requirements), []
    while remaining:
        ok, reason = resolve(remaining, platform, python)
        if ok:
            break
        if reason.startswith("pip failed: "):  # not a missing wheel (the network?): say so
            problems.append(reason)
            break
        missing = {_name(r) for r in reason.split(", ")}
        named = [r for r in remaining if _name(r) in missing]
        if not named:  # something a dependency needs
            problems.append(f"no wheel for {reason}, which a dependency needs")
            break
        problems += [f"{r}: no wheel" for r in named]
        remaining = [r for r in remaining if r not in named]
    return problems


def main() -> int:
    requirements = dependencies()
    jobs = [(platform, python) for platform in PLATFORMS for python in PYTHONS
            if (platform, python) not in NOT_CLAIMED]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: check(requirements, *job), jobs))
    failed = 0
    for (platform, python), problems in zip(jobs, results, strict=True):
        print(f"{'ok  ' if not problems else 'FAIL'} {platform:15} Python {python}")
        for problem in problems:
            print(f"       {problem}")
        failed += bool(problems)
    for (platform, python), why in NOT_CLAIMED.items():
        print(f"not claimed: {platform}, Python {python} ({why})")
    print(f"{len(jobs) - failed} of {len(jobs)} platform and Python pairs install every "
          f"dependency ({len(requirements)}) from wheels")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
