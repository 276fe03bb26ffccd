"""Scripts that print figures, asserting nothing; a package, run as ``python -m benchmarks.NAME``."""
