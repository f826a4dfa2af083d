"""Load test: next + submit against gunicorn on PostgreSQL with a large project.

    .venv/bin/python bench/bench_annotation_load.py --tasks 1000000 --seconds 20

Builds (or reuses) database `pairrate_bench`: one project with `--tasks` tasks of three
candidates, three annotators per task, created with generate_series SQL. Each run first
clears the ratings, so levels are comparable. Then, at each concurrency level, that many
annotator threads loop next -> submit over keep-alive HTTP for `--seconds`, and it prints
p50/p95/p99 latency per endpoint, submitted tasks/s and the CPU each submitted task cost the
server, PostgreSQL and the client (from /proc), with the machine it ran on. With
`--rate-seconds` annotators take that long to rate and start at random times within
`--ramp-seconds` (default: the rating time), as people do; the first next of each annotator
is reported apart. Server, database and client share the machine, as in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import runpy
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WEB = runpy.run_path(str(ROOT / "pairrate" / "gunicorn_conf.py"))  # the deployment's gunicorn settings
DB = "pairrate_bench"
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
ITEMS = 10_000
MAX_ANNOTATORS = 100


def sh(*args, env=None):
    subprocess.run(args, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def server_env(extra=None, url: str = URL) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PAIRRATE_DEBUG": "0",
        "PAIRRATE_SECRET_KEY": "bench-secret",
        "PAIRRATE_SSL_REDIRECT": "0",
        "PAIRRATE_LOG_LEVEL": "WARNING",
        "PAIRRATE_DB_CONN_MAX_AGE": "600",
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"),
    }
    return {**env, **(extra or {})}


def ensure_database() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB}"')
    sh(PY, "manage.py", "migrate", "-v0", env=server_env())


SETUP_SQL = [
    """INSERT INTO annotation_dataset (name, description, created_at, updated_at)
       VALUES ('bench', '', now(), now()) ON CONFLICT DO NOTHING""",
    """INSERT INTO annotation_embeddingspace (name, model_name, dim, target_modality, created_at, encoder_family,
                                             encoder_path, encoder_fingerprint, encoder_info)
       VALUES ('bench', 'none', 4, 'image', now(), '', '', '', '{}') ON CONFLICT DO NOTHING""",
    """INSERT INTO annotation_item (dataset_id, modality, external_id, media, source_dataset, license, metadata)
       SELECT d.id, 'image', 'i' || g, 'media/i' || g || '.jpg', '', '', '{}'
       FROM annotation_dataset d, generate_series(0, %(items)s - 1) g WHERE d.name = 'bench'""",
    """INSERT INTO annotation_caption (dataset_id, external_id, text, source_modality, source_dataset,
                                      license, metadata)
       SELECT d.id, 'c' || g, 'a caption describing scene number ' || g, 'image', '', '', '{}'
       FROM annotation_dataset d, generate_series(0, %(tasks)s - 1) g WHERE d.name = 'bench'""",
    """INSERT INTO annotation_project (name, instructions, created_at, state, caption_source_modalities,
         caption_source_datasets, target_modality, space_id, sample_size, curation, nsfw_backend,
         nsfw_thresholds, k, candidates_per_task, item_cap, annotators_per_task, consensus_rule,
         contested_route, max_extra_annotators, lease_seconds, gold_rate, seed, gold_min_answers)
       SELECT 'bench', 'Rate each pair.', now(), 'ready', '[]', '[]', 'image', s.id, %(tasks)s, '{}', 'none',
              '{}', 16, 3, 1000, 3, 'majority', 'adjudicate', 2, 600, 0, 0, 5
       FROM annotation_embeddingspace s WHERE s.name = 'bench'""",
    """INSERT INTO annotation_task (project_id, caption_id, position, nsfw_scores)
       SELECT p.id, c.id, row_number() OVER (ORDER BY c.id) - 1, '{}'
       FROM annotation_project p, annotation_caption c WHERE p.name = 'bench'""",
    """INSERT INTO annotation_taskcandidate (task_id, item_id, slot, retrieval_rank, similarity)
       SELECT t.id, i.ids[1 + (t.position * 3 + s) %% %(items)s], s, s, 0.5
       FROM annotation_task t,
            (SELECT array_agg(id ORDER BY id) AS ids FROM annotation_item) i,
            generate_series(0, 2) s""",
]

RESET_SQL = [
    "TRUNCATE annotation_rating, annotation_adjudication, annotation_pairresult, annotation_assignment",
    """UPDATE annotation_task SET open_slots = NULL, rating_count = 0, extra_slots = 0
       WHERE open_slots IS NOT NULL OR rating_count > 0""",
    "UPDATE annotation_projectmember SET served = 0, gold_served = 0, gold_answered = 0, gold_correct = 0",
]


def build(tasks: int, url: str = URL) -> int:
    """Create the project once (seconds to minutes); later runs only reset it."""
    with psycopg.connect(url, autocommit=True) as conn:
        built = conn.execute("SELECT count(*) FROM annotation_taskcandidate").fetchone()[0] == 3 * tasks
        if not built:
            conn.execute(
                "TRUNCATE annotation_project, annotation_caption, annotation_item, "
                "annotation_embeddingspace, annotation_dataset CASCADE"
            )
            started = time.perf_counter()
            with conn.transaction():  # all or nothing: a half-built project is never reused
                for sql in SETUP_SQL:
                    conn.execute(sql, {"tasks": tasks, "items": ITEMS})
            conn.execute("ANALYZE")
            print(
                f"built {tasks:,} tasks / {3 * tasks:,} candidates in {time.perf_counter() - started:.0f} s", flush=True
            )
        for sql in RESET_SQL:
            conn.execute(sql)
        conn.execute("VACUUM ANALYZE annotation_task")
        return conn.execute("SELECT id FROM annotation_project WHERE name = 'bench'").fetchone()[0]


def make_annotators(project_id: int, env: dict | None = None) -> list[str]:
    code = f"""
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from annotation.models import ProjectMember
User = get_user_model()
for i in range({MAX_ANNOTATORS}):
    user, _ = User.objects.get_or_create(username=f"bench{{i}}")
    ProjectMember.objects.get_or_create(project_id={project_id}, user=user)
    print(Token.objects.get_or_create(user=user)[0].key)
"""
    out = subprocess.run(
        [PY, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env or server_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [word for word in out.split() if len(word) == 40]


class Annotator(threading.Thread):
    """One annotator: next, then submit a label per candidate, over one keep-alive connection."""

    def __init__(self, token, project_id, port, stop_at, seed, rate_seconds=0.0, start_delay=0.0):
        super().__init__(daemon=True)
        self.rate_seconds, self.start_delay = rate_seconds, start_delay
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.project_id, self.port, self.stop_at = project_id, port, stop_at
        self.rng = random.Random(seed)
        self.next_ms, self.submit_ms, self.submitted, self.errors = [], [], 0, 0

    def post(self, conn, path, body=None):
        started = time.perf_counter()
        conn.request("POST", path, body=json.dumps(body) if body is not None else "", headers=self.headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - started) * 1000

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        time.sleep(self.start_delay)
        while time.perf_counter() < self.stop_at:
            status, data, ms = self.post(conn, f"/api/projects/{self.project_id}/assignments/next/")
            self.next_ms.append(ms)
            if status != 200:
                self.errors += 1
                if self.errors == 1:
                    print(f"next -> {status}: {data[:200]!r}", flush=True)
                continue
            payload = json.loads(data)
            ratings = [
                {"candidate": c["id"], "label": self.rng.choice(("good", "partial", "bad"))}
                for c in payload["candidates"]
            ]
            if self.rate_seconds:  # the time a person spends looking and rating, +-50 %
                time.sleep(self.rate_seconds * self.rng.uniform(0.5, 1.5))
            status, _, ms = self.post(
                conn, f"/api/assignments/{payload['id']}/submit/", {"ratings": ratings, "seconds": 5}
            )
            self.submit_ms.append(ms)
            if status == 200:
                self.submitted += 1
            else:
                self.errors += 1


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return f"p50 {pick(0.5):6.1f}  p95 {pick(0.95):6.1f}  p99 {pick(0.99):6.1f} ms"


def cpu_times(pids) -> dict[int, float]:
    """CPU seconds (user + system) per live process, from /proc."""
    tick, times = os.sysconf("SC_CLK_TCK"), {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    return times


def server_pids(server) -> list[int]:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return [server.pid, *map(int, children)]


def postgres_pids() -> list[int]:
    """The bench database's backends and PostgreSQL's own background processes (WAL writer...)."""
    with psycopg.connect(URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = %s OR datname IS NULL) AND pid <> pg_backend_pid()", [DB]
        ).fetchall()
    return [pid for (pid,) in rows]


class CpuMeter:
    """CPU spent by the server, PostgreSQL and this client between start() and stop()."""

    def __init__(self, server):
        self.server = server

    def sample(self) -> dict[str, dict[int, float]]:
        return {
            "gunicorn": cpu_times(server_pids(self.server)),
            "postgres": cpu_times(postgres_pids()),
            "client": {0: sum(os.times()[:2])},
        }

    def start(self):
        self.before = self.sample()

    def stop(self) -> dict[str, float]:
        after = self.sample()
        return {part: sum(t - self.before[part].get(pid, 0.0) for pid, t in after[part].items()) for part in after}


def start_gunicorn(
    port: int, workers: int, threads: int, worker_class: str, env: dict | None = None, stderr=subprocess.DEVNULL
) -> subprocess.Popen:
    """The deployment's gunicorn (its config file) on 127.0.0.1:port, without access log."""
    return subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "pairrate.wsgi:application",
            "--config",
            "pairrate/gunicorn_conf.py",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "-k",
            worker_class,
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            "--access-logfile",
            "/dev/null",
        ],
        cwd=ROOT,
        env=env or server_env(),
        stderr=stderr,
    )


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    with psycopg.connect(URL) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    mem = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3)
    return f"{cpu}, {os.cpu_count()} cores, {mem} GiB RAM, {platform.platform()}, PostgreSQL {pg}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--levels", default="1,10,30,100")
    # Defaults: the deployment's gunicorn configuration (pairrate/gunicorn_conf.py), so the
    # figures are the production server's; the flags try others.
    parser.add_argument("--workers", type=int, default=WEB["workers"], help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=WEB["threads"], help="gunicorn threads per worker (gthread)")
    parser.add_argument("--worker-class", default=WEB["worker_class"], help="gunicorn worker class (sync, gthread)")
    parser.add_argument(
        "--ramp-seconds",
        type=float,
        default=None,
        help="annotators start at random times within this many seconds (default: the rating "
        "time; 0 = all at once, a burst of first requests that queue behind each other)",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--warmup-seconds", type=float, default=5.0)
    parser.add_argument(
        "--rate-seconds",
        type=float,
        default=0.0,
        help="mean time an annotator spends rating before submitting; 0 = back to back "
        "(saturation: latency is then queueing, 30 annotators / throughput)",
    )
    args = parser.parse_args()
    ramp = args.rate_seconds if args.ramp_seconds is None else args.ramp_seconds

    ensure_database()
    project_id = build(args.tasks)
    tokens = make_annotators(project_id)
    print("machine:", machine())
    print(
        f"project: {args.tasks:,} tasks x 3 candidates, 3 annotators per task; gunicorn "
        f"{args.workers} workers x {args.threads} threads ({args.worker_class}); {args.seconds:.0f} s per level; "
        f"rating time {args.rate_seconds:g} s; starts spread over {ramp:g} s",
        flush=True,
    )
    server = start_gunicorn(args.port, args.workers, args.threads, args.worker_class)
    try:
        time.sleep(3)
        # Warm-up, not reported: each gunicorn worker's first requests pay for imports and
        # connections (seconds), which would otherwise land in the first level's tail.
        warm_until = time.perf_counter() + args.warmup_seconds
        warm = [Annotator(tokens[i], project_id, args.port, warm_until, i) for i in range(min(30, len(tokens)))]
        for t in warm:
            t.start()
        for t in warm:
            t.join()
        results, meter = [], CpuMeter(server)
        for level in [int(x) for x in args.levels.split(",")]:
            stop_at = time.perf_counter() + args.seconds
            starts = random.Random(level)
            threads = [
                Annotator(tokens[i], project_id, args.port, stop_at, i, args.rate_seconds, starts.uniform(0, ramp))
                for i in range(level)
            ]
            meter.start()
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            cpu = meter.stop()
            next_ms = [ms for t in threads for ms in t.next_ms]
            submit_ms = [ms for t in threads for ms in t.submit_ms]
            submitted = sum(t.submitted for t in threads)
            errors = sum(t.errors for t in threads)
            line = (
                f"{level:>3} annotators | next {percentiles(next_ms)} | submit {percentiles(submit_ms)} | "
                f"{submitted / elapsed:6.1f} submitted tasks/s | errors {errors}\n"
                f"    first next of each annotator {percentiles([t.next_ms[0] for t in threads if t.next_ms])}, "
                f"the others {percentiles([ms for t in threads for ms in t.next_ms[1:]])}"
            )
            per_task = {part: seconds * 1000 / max(submitted, 1) for part, seconds in cpu.items()}
            line += f"\n    CPU per submitted task {sum(per_task.values()):.1f} ms: " + ", ".join(
                f"{part} {ms:.1f}" for part, ms in per_task.items()
            )
            print(line, flush=True)
            results.append(line)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
