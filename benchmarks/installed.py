"""Time layer-sync as it runs once installed: its modules compiled to bytecode.

`pip install .` compiles every module when it installs them; an editable install compiles
each on first import and keeps the result, except where PYTHONDONTWRITEBYTECODE is set (as
on some build machines): there every process compiles the whole package again, ~0.15 s that
no installed copy pays. Each benchmark calls `compile_package()` before it times anything.
"""

from __future__ import annotations

import subprocess
import sys

_COMPILE = ("import compileall, os, layer_sync; "
            "compileall.compile_dir(os.path.dirname(layer_sync.__file__), quiet=1)")


def compile_package() -> None:
    """Compile the layer_sync that the timed processes will import (the one found from the
    current folder, as `python -m layer_sync` finds it)."""
    subprocess.run([sys.executable, "-c", _COMPILE], check=True)
