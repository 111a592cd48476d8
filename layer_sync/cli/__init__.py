"""The command line: `layer-sync` parses its arguments, calls one library function and prints.

Nothing below this wing prints or exits."""

from .console import main, run

__all__ = ["main", "run"]
