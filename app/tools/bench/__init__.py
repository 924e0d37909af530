"""Benchmarks that print figures: speed (`python -m app bench`), class load (`--load`), exercises."""
