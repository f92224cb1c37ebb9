"""A local Elasticsearch-compatible server for the demo and the tests (the `noida-db` package).

The pipeline never talks to it differently from a real cluster: this module only starts and stops
the process; everything else goes through `connectors.search` and the official client.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import TransientError

log = logging.getLogger(__name__)


class LocalSearchError(TransientError):
    """The local search server did not start or answer."""

    kind = "local-search"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _executable() -> str:
    beside = Path(sys.executable).with_name("noida-db")
    if beside.exists():
        return str(beside)
    found = shutil.which("noida-db")
    if found is None:
        raise LocalSearchError("noida-db is not installed (it comes with `make setup`)")
    return found


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class LocalSearchServer:
    """A running local server: its URL, data folder and process."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the server (SIGINT, then SIGKILL of its process group); data stays on disk."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            log.warning("local search server did not stop on SIGINT; killing it")
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash would."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.process.wait(timeout=10)


def start_local_search(
    data_dir: Path, *, port: int | None = None, timeout: float = 60.0
) -> LocalSearchServer:
    """Start the local server with its data under `data_dir` and wait until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(
        [
            _executable(),
            "start",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--only",
            "elasticsearch",
            "--elasticsearch-port",
            str(port),
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so stop() reaches its children too
    )
    log_file.close()
    server = LocalSearchServer(url, data_dir, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalSearchError(
                f"local search server exited with code {process.returncode}; "
                f"see {data_dir / 'server.log'}"
            )
        if _answers(url):
            return server
        time.sleep(0.1)
    server.stop()
    raise LocalSearchError(f"local search server did not answer on {url} within {timeout:.0f}s")


@contextmanager
def local_search(data_dir: Path, *, port: int | None = None) -> Iterator[LocalSearchServer]:
    """Run the local server for the duration of the context."""
    server = start_local_search(data_dir, port=port)
    try:
        yield server
    finally:
        server.stop()
