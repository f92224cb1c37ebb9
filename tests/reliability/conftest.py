"""Fixtures of the reliability tests: a throwaway PostgreSQL cluster of our own.

The machine's shared PostgreSQL server is used by other engineers and is never restarted here:
faults are injected into a cluster this module creates with `initdb`, on a free port, with
password authentication over TCP, and removes afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.localsearch import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER_PASSWORD = "pg-superuser-Secret-7f3a9c"


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster owned by one test session: start, stop, restart."""

    directory: Path
    port: int

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-w",
                "-t",
                "60",
                *args,
            ],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._pg_ctl(
            "-l",
            str(self.directory / "server.log"),
            "-o",
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast` ends open sessions; `immediate` is a crash)."""
        self._pg_ctl("-m", mode, "stop")

    def url(
        self, database: str = "postgres", user: str = "postgres", password: str = SUPERUSER_PASSWORD
    ) -> str:
        """A SQLAlchemy URL over TCP, with the password in it."""
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, owner: str = "postgres") -> str:
        """Create a database and return its superuser URL."""
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
        engine.dispose()
        return self.url(name)

    def execute(self, statement: str) -> None:
        """Run one statement as the superuser (autocommit)."""
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(statement))
        engine.dispose()


@pytest.fixture(scope="session")
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """Our own PostgreSQL 15 cluster (initdb in a temporary folder owned by postgres)."""
    directory = Path(tempfile.mkdtemp(prefix="mediamon-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    password_file = directory / "pwfile"
    password_file.write_text(SUPERUSER_PASSWORD + "\n")
    shutil.chown(password_file, "postgres", "postgres")
    started = time.monotonic()
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(directory / "data"),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={password_file}",
            "-U",
            "postgres",
        ],
        check=True,
        capture_output=True,
    )
    cluster = ThrowawayPostgres(directory, free_port())
    cluster.start()
    print(f"throwaway PostgreSQL ready in {time.monotonic() - started:.1f}s on port {cluster.port}")
    try:
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
