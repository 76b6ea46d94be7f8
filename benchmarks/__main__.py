"""Run every benchmark: python -m benchmarks [NAME...]."""

import importlib
import pkgutil
import sys

import benchmarks

names = sys.argv[1:] or sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
if not names:
    print("No benchmark yet.")
for name in names:
    print(f"== {name}")
    importlib.import_module(f"benchmarks.{name}").run()
