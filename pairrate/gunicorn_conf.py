"""The one gunicorn configuration: the Dockerfile, docker-compose.yml's web service and
bench/bench_annotation_load.py all start gunicorn with `--config pairrate/gunicorn_conf.py`
(docs/deploy.md, "Web server").

Sync workers, one request at a time per process, 3 per CPU core: on 2 cores 6 sync workers
beat 3 gthread workers x 8 threads in the load benchmark (no GIL hand-offs between a
worker's threads, fewer PostgreSQL connections; docs/benchmarks.md). A sync worker is held
for a whole slow request, so serve it behind a buffering reverse proxy (nginx, a cloud load
balancer) and raise PAIRRATE_WEB_WORKERS rather than the timeout.
"""

import os

bind = os.environ.get("PAIRRATE_WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("PAIRRATE_WEB_WORKERS") or 3 * (os.cpu_count() or 1))
worker_class = os.environ.get("PAIRRATE_WEB_WORKER_CLASS", "sync")
threads = int(os.environ.get("PAIRRATE_WEB_THREADS", "1"))
timeout = int(os.environ.get("PAIRRATE_WEB_TIMEOUT", "60"))  # seconds a request may take before its worker restarts
accesslog = os.environ.get("PAIRRATE_WEB_ACCESS_LOG", "-") or None  # "-": stdout; empty: none
