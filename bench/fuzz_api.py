"""A longer schemathesis run of the whole API than the test suite's (figures in docs/security.md).

    python bench/fuzz_api.py [--examples 40] [--seeds 0 1 2]

Runs tests/security/test_fuzz.py (annotator, then admin; positive and negative data; real ids
substituted) once per seed with --examples per operation and mode, against the test database
of TEST_DATABASE_URL/DATABASE_URL, and prints requests, time, status counts and failures beside
the machine and its load. Needs PostgreSQL and Redis as the tests do.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=40, help="examples per operation and generation mode")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    totals, statuses, failures, seconds = collections.Counter(), collections.Counter(), [], 0.0
    for seed in args.seeds:
        with tempfile.NamedTemporaryFile(suffix=".json") as report:
            env = {
                **os.environ,
                "PAIRRATE_FUZZ_EXAMPLES": str(args.examples),
                "PAIRRATE_FUZZ_SEED": str(seed),
                "PAIRRATE_FUZZ_REPORT": report.name,
            }
            started = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "tests/security/test_fuzz.py",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-o",
                    "timeout=0",
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - started
            runs = json.loads(Path(report.name).read_text() or "[]")
        if not runs:
            print(done.stdout[-3000:], done.stderr[-3000:])
            return 1
        for run in runs:
            rate = run["requests"] / run["seconds"] if run["seconds"] else 0
            print(
                f"seed {seed} {run['role']:9s}: {run['operations']} operations, {run['requests']} requests in "
                f"{run['seconds']:.1f} s ({rate:.0f}/s), {run.get('unsent', 0)} bodies not encodable, "
                f"{len(run['failures'])} failures"
            )
            totals[run["role"]] += run["requests"]
            statuses.update({int(k): v for k, v in run["statuses"].items()})
            failures += run["failures"]
            seconds += run["seconds"]
        print(f"seed {seed}: pytest wall {wall:.1f} s (with test database setup), exit {done.returncode}")
    print(
        f"total: {sum(totals.values())} requests ({', '.join(f'{r} {n}' for r, n in totals.items())}) "
        f"in {seconds:.1f} s fuzzing; statuses {dict(sorted(statuses.items()))}; "
        f"5xx: {sum(n for code, n in statuses.items() if code >= 500)}; failures: {len(failures)}"
    )
    for failure in failures[:30]:
        print("  " + failure[:300])
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
