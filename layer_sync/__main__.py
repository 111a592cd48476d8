"""`python -m layer_sync` does what `layer-sync` does."""

from .entry import run

if __name__ == "__main__":  # not when imported under another name
    run()
