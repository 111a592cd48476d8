"""`python -m layer_sync` does what `layer-sync` does."""

from .cli import main

raise SystemExit(main())
