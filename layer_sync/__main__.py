"""`python -m layer_sync` does what `layer-sync` does."""

from .cli import run

run()
