"""Benchmarks (`make bench`): each module's `run()` prints its figures and ratios against a
baseline measured in the same run."""
