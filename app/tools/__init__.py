"""Command-line tools: the content checker (`check/`) and the benchmarks (`bench/`)."""
