"""`python -m tests.benchmarks [NAME ...]`: run the benchmarks and write bench-results/*.json."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from pathlib import Path

from services.platform.logs import configure_logging
from services.platform.settings import PROJECT_ROOT

BENCHMARKS = (
    "platform",
    "source",
    "replication",
    "lakehouse",
    "warehouse",
    "reconcile",
    "new_table",
    "wide_table",
    "streaming",
    "pipeline",
    "compose",
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"which benchmarks, of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench-results", help="results folder")
    args = parser.parse_args()
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
    configure_logging()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or BENCHMARKS:
        print(f"==> benchmark {name}", flush=True)
        started = time.time()
        results = importlib.import_module(f"tests.benchmarks.bench_{name}").run()
        record = {
            "benchmark": name,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "results": results,
        }
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(json.dumps(results, indent=2))
        print(f"==> wrote {path}", flush=True)


if __name__ == "__main__":
    main()
