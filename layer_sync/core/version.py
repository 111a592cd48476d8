"""The version of layer-sync, in one place."""

__version__ = "0.1.0"
