"""Run `gesso serve` as a real process on a loopback port, for tests that talk HTTP to it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from tests.real_servers import free_port


def install_test_model(tiny_pipeline_dir: Path, models_dir: Path, name: str = "gesso-base") -> Path:
    target = models_dir / name
    if not target.exists():
        shutil.copytree(tiny_pipeline_dir, target)
    return target


def gesso_environment(data_dir: Path, models_dir: Path, environment: dict[str, str] | None, settings: dict) -> dict:
    """The process environment of a Gesso process under test: settings as GESSO_* variables."""
    return {
        **os.environ,
        "GESSO_DATA_DIR": str(data_dir),
        "GESSO_MODELS_DIR": str(models_dir),
        "GESSO_DEVICE": "cpu",
        **{f"GESSO_{key.upper()}": str(value) for key, value in settings.items()},
        **(environment or {}),
    }


class GessoProcess:
    """What a Gesso process under test shares: its log, SIGKILL, SIGTERM and stop."""

    root: Path
    process: subprocess.Popen | None
    starts: int
    stop_wait_s = 15.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return (self.root / f"stderr-{self.starts}.txt").read_text()

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run, as in a power cut of the process."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, and wait for the graceful end; returns the exit status."""
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(self.stop_wait_s)
            except subprocess.TimeoutExpired:
                self.kill()


class ServerProcess(GessoProcess):
    """`python -m gesso.cli serve [arguments]` with settings passed as GESSO_* variables (and
    `environment`, further variables of its process)."""

    def __init__(
        self,
        root: Path,
        models_dir: Path,
        environment: dict[str, str] | None = None,
        arguments: tuple[str, ...] = (),
        **settings: object,
    ):
        self.root = root
        self.data_dir = root / "data"
        self.arguments = arguments
        self.env = {**gesso_environment(self.data_dir, models_dir, environment, settings), "GESSO_HOST": "127.0.0.1"}
        self._use_port(free_port())
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env["GESSO_PORT"] = str(port)

    def launch(self) -> None:
        """Start the process without waiting for it to be ready (`wait_ready`)."""
        self.starts += 1
        stdout = open(self.root / f"stdout-{self.starts}.txt", "w")
        stderr = open(self.root / f"stderr-{self.starts}.txt", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gesso.cli", "serve", *self.arguments], env=self.env, stdout=stdout, stderr=stderr
        )

    def start(self, timeout: float = 90.0) -> None:
        """Launch and wait until ready. A free port can be taken by another process (a Ray
        cluster opens many) before the server binds it: then the server starts on another."""
        for attempt in range(3):
            self.launch()
            try:
                return self.wait_ready(timeout)
            except RuntimeError:
                if attempt == 2 or "address already in use" not in self.log():
                    raise
            self._use_port(free_port())

    def wait_ready(self, timeout: float = 90.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log()[-3000:]}")

    def printed_lines(self, start: int = 1) -> list[str]:
        return (self.root / f"stdout-{start}.txt").read_text().splitlines()

    def admin_key(self) -> str:
        """The admin key `gesso serve` printed on its first start (the line after the announcement)."""
        lines = self.printed_lines()
        return next(lines[i + 1] for i, line in enumerate(lines) if "admin API key" in line)



@contextmanager
def running_server(
    root: Path, models_dir: Path, environment: dict[str, str] | None = None, **settings: object
) -> Iterator[ServerProcess]:
    """A started `ServerProcess` (see its arguments), stopped on leaving the block."""
    proc = ServerProcess(root, models_dir, environment, **settings)
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


class WorkerProcess(GessoProcess):
    """`python -m gesso.cli worker --kind KIND` with settings as GESSO_* variables; ready once its
    log says the default model is loaded."""

    stop_wait_s = 30.0

    def __init__(
        self, root: Path, models_dir: Path, kind: str = "images", environment: dict[str, str] | None = None,
        **settings: object,
    ):
        self.root = root
        self.kind = kind
        self.env = gesso_environment(root / "data", models_dir, environment, settings)
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def launch(self) -> None:
        self.starts += 1
        stderr = open(self.root / f"stderr-{self.starts}.txt", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gesso.cli", "worker", "--kind", self.kind], env=self.env,
            stdout=subprocess.DEVNULL, stderr=stderr,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()[-3000:]}")
            if '"worker ready' in self.log():
                return
            time.sleep(0.25)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.log()[-3000:]}")
