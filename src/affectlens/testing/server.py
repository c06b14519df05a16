"""A real ``affectlens serve`` in a child process, for tests and benchmarks.

A child process rather than an in-process app: the tests kill it with SIGKILL mid-job and
start it again on the same data folder, and the benchmarks measure its memory on its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from ..core.memory import rss_mb


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m affectlens serve --data-dir DIR --port P [extra args]``, started and waited for.

    Use as a context manager; :meth:`kill` sends SIGKILL (no clean-up at all, as a crash would).
    """

    def __init__(self, data_dir: str | Path, *args: str, port: int | None = None, env: dict | None = None,
                 log: str | Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.log_path = Path(log) if log else self.data_dir.parent / f"serve-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "affectlens", "serve", "--data-dir", str(self.data_dir), "--port", str(self.port),
             *self.args], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                if requests.get(self.url + "/v1/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the server did not answer within {timeout} s: {self.log()[-2000:]}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def rss_mb(self, peak: bool = False) -> float:
        """The server's resident memory now (or its peak), from /proc."""
        assert self.proc is not None
        return rss_mb(self.proc.pid, peak=peak)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_job(url: str, job_id: str, *, headers: dict | None = None, timeout: float = 300.0,
                 until: tuple[str, ...] = ("done", "failed")) -> dict:
    """Poll ``GET /v1/jobs/{id}`` until its status is one of ``until``; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=10)
        r.raise_for_status()
        job = r.json()
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout} s")
        time.sleep(0.2)
