"""layer-sync: keep a lab's target layer stacks (CSV / Excel) in step with Atomscale."""

__version__ = "0.1.0"
