"""Soak: annotators rate through gunicorn for many minutes while workers are killed and
PostgreSQL restarts; latency per window around each fault, then nothing lost or doubled.

    .venv/bin/python bench/bench_soak.py --annotators 100 --tasks 1000000 --minutes 30 \\
        --kill-every 120 --pg-restart-at 15

The database lives in a private PostgreSQL cluster (tests/postgres_cluster.py: initdb in a
temp folder, a free port), never the shared server, because the soak stops and starts it.
The project, the annotators, gunicorn and the latency figures are those of
bench/bench_annotation_load.py. Annotators take a random think time (--rate-seconds, +-50 %)
per task, wait and ask again after a 503 or a dropped connection, and repeat a submit whose
answer they did not get (submits are idempotent); each submit answered 200 goes into a
client-side ledger. Faults: SIGKILL of one random gunicorn worker every --kill-every seconds
(the master starts another), and at each --pg-restart-at minute a `pg_ctl stop -m fast`,
--pg-down-seconds down, then start. It prints p50/p95/p99 per endpoint, errors and submitted
tasks/s every --report-seconds and, per fault, in the windows before, during and after it;
at the end bench/soak_invariants.py checks in SQL that no task went twice to one annotator or
beyond its count, no rating is duplicated, and every acknowledged rating is stored. Exits 1
when an invariant fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_annotation_load import (  # noqa: E402  (the load benchmark's project, annotators and server)
    MAX_ANNOTATORS,
    PY,
    ROOT,
    WEB,
    Annotator,
    build,
    make_annotators,
    percentiles,
    server_env,
    server_pids,
    start_gunicorn,
)
from common import machine  # noqa: E402
from soak_invariants import check  # noqa: E402

from tests.postgres_cluster import PostgresCluster, free_port  # noqa: E402

DB = "pairrate_soak"
RETRY_STATUSES = {0, 502, 503, 504}  # 0: no answer (connection refused or dropped)
EVENTS: list[tuple[float, str, float, int]] = []  # (finished at, endpoint, ms, status), all annotators


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


class SoakAnnotator(Annotator):
    """An annotator that comes through faults as a client would, and keeps a ledger of the
    submits the server acknowledged."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ledger: list[tuple[int, dict[int, str]]] = []

    def call(self, conn, endpoint, path, body=None) -> tuple[int, bytes]:
        started = time.perf_counter()
        try:
            status, data, ms = self.post(conn, path, body)
        except (OSError, http.client.HTTPException):
            conn.close()  # reconnects on the next request
            status, data, ms = 0, b"", (time.perf_counter() - started) * 1000
        EVENTS.append((time.perf_counter(), endpoint, ms, status))
        if status not in (200, 204):
            self.errors += 1
        return status, data

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        time.sleep(self.start_delay)
        while time.perf_counter() < self.stop_at:
            status, data = self.call(conn, "next", f"/api/projects/{self.project_id}/assignments/next/")
            if status != 200:
                time.sleep(1.0 if status == 204 else 0.5)
                continue
            payload = json.loads(data)
            labels = {c["id"]: self.rng.choice(("good", "partial", "bad")) for c in payload["candidates"]}
            time.sleep(self.rate_seconds * self.rng.uniform(0.5, 1.5))
            body = {"ratings": [{"candidate": c, "label": label} for c, label in labels.items()], "seconds": 5}
            for _ in range(20):  # until the server answers; a repeat of a stored submit is a 200 too
                status, _ = self.call(conn, "submit", f"/api/assignments/{payload['id']}/submit/", body)
                if status not in RETRY_STATUSES:
                    break
                time.sleep(0.5)
            if status == 200:
                self.ledger.append((payload["id"], labels))
                self.submitted += 1


class Faults(threading.Thread):
    """Kills a gunicorn worker every kill_every seconds and restarts PostgreSQL at set times,
    noting each fault as (what, started, ended) on the benchmark's clock."""

    def __init__(self, server, cluster, t0, stop_at, kill_every, kill_first, pg_restart_at, pg_down_seconds):
        super().__init__(daemon=True)
        self.server, self.cluster, self.pg_down_seconds = server, cluster, pg_down_seconds
        self.rng = random.Random(0)
        plan = [(t0 + 60 * m, "pg") for m in pg_restart_at]
        if kill_every:
            plan += [(t0 + kill_first + kill_every * k, "kill") for k in range(int((stop_at - t0) / kill_every) + 1)]
        self.plan = sorted((at, kind) for at, kind in plan if at < stop_at)
        self.log: list[tuple[str, float, float]] = []

    def run(self):
        for at, kind in self.plan:
            time.sleep(max(0.0, at - time.perf_counter()))
            started = time.perf_counter()
            if kind == "kill":
                workers = server_pids(self.server)[1:]
                pid = self.rng.choice(workers)
                os.kill(pid, signal.SIGKILL)
                what = f"SIGKILL gunicorn worker {pid} (1 of {len(workers)})"
            else:
                self.cluster.stop()
                time.sleep(self.pg_down_seconds)
                self.cluster.start()
                what = f"PostgreSQL stop -m fast, {self.pg_down_seconds:g} s down, start"
            self.log.append((what, started, time.perf_counter()))
            print(f"[{started - T0:7.1f} s] fault: {what} ({time.perf_counter() - started:.1f} s)", flush=True)


def window(lo: float, hi: float) -> str:
    """p50/p95/p99 of the answered requests (2xx) per endpoint, errors by status, tasks/s."""
    inside = [e for e in EVENTS if lo <= e[0] < hi]
    parts = [
        f"{endpoint} {percentiles([ms for _, e, ms, st in inside if e == endpoint and 200 <= st < 300])}"
        for endpoint in ("next", "submit")
    ]
    errors = Counter("no answer" if st == 0 else str(st) for _, _, _, st in inside if st not in (200, 204))
    submitted = sum(1 for _, e, _, st in inside if e == "submit" and st == 200)
    rate = submitted / max(hi - lo, 1e-9)
    return " | ".join(parts) + f" | {rate:5.1f} tasks/s | errors {dict(errors) or 0}"


def recovery(started: float, ended: float, until: float) -> str:
    """When the last failed request of a fault came back, and the first answered one after it."""
    failed = sorted(t for t, _, _, st in EVENTS if started <= t < until and st not in (200, 204))
    if not failed:
        return "no request failed"
    answered = sorted(t for t, _, _, st in EVENTS if t > failed[-1] and st in (200, 204))
    first = f"{answered[0] - ended:+.2f} s" if answered else "none"
    return (
        f"{len(failed)} failed requests, the last {failed[-1] - ended:+.2f} s from the fault's end; "
        f"first answer after it {first}"
    )


def wait_for_server(port: int, timeout: float = 60) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not listen on {port}")


def private_cluster(folder: Path | None) -> tuple[PostgresCluster, bool]:
    """(cluster, temporary): a cluster kept in `folder` is reused (its bench project too)."""
    if folder is None:
        return PostgresCluster(Path(tempfile.mkdtemp(prefix="pairrate-soak-pg-"))).init(), True
    cluster = PostgresCluster(folder)
    return (cluster.start() if cluster.data.exists() else cluster.init()), False


def main() -> None:
    global T0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--kill-every", type=float, default=120, help="seconds between worker kills; 0 = none")
    parser.add_argument(
        "--kill-first",
        type=float,
        default=None,
        help="seconds to the first kill (default: --kill-every), to keep kills off the restarts",
    )
    parser.add_argument("--pg-restart-at", default="15", help="minutes (comma-separated) of PostgreSQL restarts")
    parser.add_argument("--pg-down-seconds", type=float, default=5)
    parser.add_argument("--rate-seconds", type=float, default=2.0, help="mean think time per task (+-50 %%)")
    parser.add_argument("--window-seconds", type=float, default=30, help="the windows before and after a fault")
    parser.add_argument(
        "--recovery-seconds", type=float, default=5, help="after a fault ends, this long still counts as 'during'"
    )
    parser.add_argument("--report-seconds", type=float, default=60)
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=10,
        help="load before the clock starts, not reported (each worker's first requests load code)",
    )
    parser.add_argument("--workers", type=int, default=WEB["workers"], help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=WEB["threads"])
    parser.add_argument("--worker-class", default=WEB["worker_class"])
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (default: a free one)")
    parser.add_argument(
        "--cluster-dir",
        type=Path,
        default=None,
        help="keep the private PostgreSQL cluster here and reuse it (default: a temp folder)",
    )
    args = parser.parse_args()
    if not 0 < args.annotators <= MAX_ANNOTATORS:
        parser.error(f"--annotators must be 1..{MAX_ANNOTATORS}")
    restarts = [float(m) for m in args.pg_restart_at.split(",") if m.strip()]
    port = args.port or free_port()

    print("machine:", machine(), flush=True)
    print("at the start:", load_average(), flush=True)
    cluster, temporary = private_cluster(args.cluster_dir)
    server = None
    try:
        url = cluster.url(DB)
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone():
                conn.execute(f'CREATE DATABASE "{DB}"')
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
        env = server_env(url=url)
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        project_id = build(args.tasks, url=url)
        tokens = make_annotators(project_id, env)[: args.annotators]
        print(
            f"private PostgreSQL {pg_version} on port {cluster.port} ({cluster.folder}, fsync off); "
            f"project: {args.tasks:,} tasks x 3 candidates, 3 annotators per task; {args.annotators} annotators, "
            f"think time {args.rate_seconds:g} s +-50 %; gunicorn {args.workers} x {args.threads} "
            f"({args.worker_class}) on port {port}; {args.minutes:g} min; kill every {args.kill_every:g} s "
            f"from {args.kill_every if args.kill_first is None else args.kill_first:g} s; "
            f"PostgreSQL restarts at {restarts} min ({args.pg_down_seconds:g} s down)",
            flush=True,
        )
        server = start_gunicorn(
            port, args.workers, args.threads, args.worker_class, env, stderr=open(cluster.folder / "gunicorn.log", "ab")
        )
        wait_for_server(port)

        # Warm-up, not in the windows but in the ledger: a fresh worker's first requests pay for
        # imports (seconds), which the kills show again later.
        warm_until = time.perf_counter() + args.warmup_seconds
        warm = [
            SoakAnnotator(tokens[i], project_id, port, warm_until, i, args.rate_seconds / 4)
            for i in range(min(30, args.annotators))
        ]
        for annotator in warm:
            annotator.start()
        for annotator in warm:
            annotator.join()
        EVENTS.clear()

        T0 = time.perf_counter()
        stop_at = T0 + 60 * args.minutes
        starts = random.Random(1)
        annotators = [
            SoakAnnotator(
                tokens[i], project_id, port, stop_at, i, args.rate_seconds, starts.uniform(0, args.rate_seconds)
            )
            for i in range(args.annotators)
        ]
        for annotator in annotators:
            annotator.start()
        kill_first = args.kill_every if args.kill_first is None else args.kill_first
        faults = Faults(server, cluster, T0, stop_at, args.kill_every, kill_first, restarts, args.pg_down_seconds)
        faults.start()
        lo = T0
        while lo < stop_at:
            hi = min(lo + args.report_seconds, stop_at)
            time.sleep(max(0.0, hi - time.perf_counter()))
            print(f"[{lo - T0:5.0f}-{hi - T0:5.0f} s] {window(lo, hi)} | {load_average()}", flush=True)
            lo = hi
        for annotator in annotators:
            annotator.join()
        faults.join(timeout=120)
        print("at the end:", load_average())

        w, grace = args.window_seconds, args.recovery_seconds
        print(f"\nper fault: {w:g} s before, during (the fault + {grace:g} s), {w:g} s after")
        for what, started, ended in faults.log:
            print(f"{what} at {started - T0:.0f} s")
            print(f"  before {window(started - w, started)}")
            print(f"  during {window(started, ended + grace)}")
            print(f"  after  {window(ended + grace, ended + grace + w)}")
            print(f"  {recovery(started, ended, ended + grace + w)}")
        print(f"\nwhole run: {window(T0, time.perf_counter())}")
        server.terminate()
        server.wait(timeout=30)
        server = None
        print("invariants (SQL, after the load stopped):")
        ledger = [entry for annotator in warm + annotators for entry in annotator.ledger]
        ok = check(url, project_id, ledger)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        cluster.stop()
        if temporary:
            shutil.rmtree(cluster.folder, ignore_errors=True)
    sys.exit(0 if ok else 1)


T0 = time.perf_counter()  # the benchmark's clock origin, set again when the load starts

if __name__ == "__main__":
    main()
