"""Benchmarks: ``make bench`` (``python -m benchmarks``). Each ``bench_*.py`` module measures
one capability beside a ceiling measured in the same run and reports rows through
``benchmarks._harness``. Timings live here, never in pass/fail tests."""
