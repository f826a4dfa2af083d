"""A throwaway PostgreSQL 15 cluster on a free port in its own folder, that its owner may stop
and restart at will: the fault tests (tests/faults/conftest.py) and the soak benchmark
(bench/bench_soak.py) use it so that the shared server is never touched."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresCluster:
    """A throwaway PostgreSQL 15 cluster (initdb as the postgres user when run as root),
    holding a copy of the test database: stop, start and restart it at will."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.data, self.log = folder / "data", folder / "postgres.log"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args, check=True):
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> "PostgresCluster":
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self.start()

    def start(self) -> "PostgresCluster":
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off",
            "start",
        )
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def restart(self, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def copy_database(self, source: dict, name: str) -> None:
        """The (migrated, empty) test database, schema and rows, into this cluster as `name`."""
        env = {**os.environ, "PGUSER": source["USER"] or "postgres"}
        subprocess.run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=True,
            env=env,
            timeout=60,
        )
        dump = subprocess.run(
            [
                str(PG_BIN / "pg_dump"),
                "-h",
                source["HOST"],
                "-p",
                str(source["PORT"]),
                "-U",
                source["USER"] or "postgres",
                "--no-owner",
                source["NAME"],
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        ).stdout
        subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ],
            input=dump,
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
