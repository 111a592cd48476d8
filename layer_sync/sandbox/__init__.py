"""The sandbox: a local stand-in of the Atomscale target-materials API, with faults on demand."""

from .app import DEFAULT_API_KEY, SandboxServer
from .faults import FAULT_KINDS, Faults, parse_kinds
from .listing import Listing
from .stats import Stats
from .store import Store

__all__ = ["DEFAULT_API_KEY", "FAULT_KINDS", "Faults", "Listing", "SandboxServer", "Stats", "Store", "parse_kinds"]
