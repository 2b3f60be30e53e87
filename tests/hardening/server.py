"""A Minyi server as a real subprocess, so a test can SIGKILL it mid-load and start it again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINYI_")}
    env.update(
        MINYI_DATABASE_URL=database_url,
        MINYI_SECRET_KEY=TEST_SECRET_KEY,
        MINYI_SECRET_KEY_FILE=str(tmp_path / "secret"),
        MINYI_RATE_LIMIT="off",
        MINYI_MIGRATE_ON_START="true",
        MINYI_ENVIRONMENT="test",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


class ServerProcess:
    """``python -m uvicorn service.main:create_app --factory`` on a free port."""

    def __init__(self, database_url: str, tmp_path: Path, log_level: str = "warning") -> None:
        self.database_url = database_url
        self.log_level = log_level
        self.tmp_path = tmp_path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp_path / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "service.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            self.log_level,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=server_env(self.database_url, self.tmp_path),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no goodbye."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
