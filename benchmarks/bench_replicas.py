"""Many machines on one: 16 SDK clients against one API replica with one worker and with two, on
PostgreSQL and SeaweedFS (S3), side by side with the embedded default (SQLite + disk, the worker in
the server); and the per-image overhead of PostgreSQL + S3 against SQLite + disk.

PostgreSQL and SeaweedFS are started here the way the test suite starts them (tests/real_servers.py),
on loopback. On a 2-core machine every process shares the same two cores: two workers there split
the cores rather than add any, so their ratio says what the coordination costs, not what a second
machine gives.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from benchmarks.sdk_load import drive, sdk_client, sequential_latency
from gesso.settings import get_settings
from tests.real_servers import start_postgres, start_seaweedfs
from tests.service.server_process import ServerProcess, WorkerProcess

CLIENTS = 16
SEQUENTIAL_REQUESTS = 8
LOAD_SETTINGS = {
    "rate_limit_per_minute": 1_000_000,
    "tenant_images_per_day": 10_000_000,
    "max_queued_jobs": 1024,
    "max_expected_wait_s": 0,
}
SETUPS = {
    "embedded, SQLite + disk": (False, 0),
    "embedded, PostgreSQL + S3": (True, 0),
    "1 API replica + 1 worker, PostgreSQL + S3": (True, 1),
    "1 API replica + 2 workers, PostgreSQL + S3": (True, 2),
}


def _measure(root: Path, shared: bool, workers: int, postgres, seaweed, requests_per_client: int) -> dict:  # noqa: ANN001
    models = get_settings().models_dir
    environment: dict[str, str] = {}
    if shared:
        environment = {
            **seaweed.environment(),
            "GESSO_DATABASE_URL": postgres.create_database(),
            "GESSO_BLOB_URL": seaweed.blob_url(),
            "GESSO_KEYS_DIR": str(root / "keys"),
        }
    with ExitStack() as stack:
        (root / "api").mkdir(parents=True)
        arguments = ("--no-worker",) if workers else ()
        server = ServerProcess(root / "api", models, environment, arguments=arguments, **LOAD_SETTINGS)
        stack.callback(server.stop)
        server.start(timeout=180)
        for k in range(workers):
            (root / f"worker-{k}").mkdir()
            worker = WorkerProcess(root / f"worker-{k}", models, "images", environment, **LOAD_SETTINGS)
            stack.callback(worker.stop)
            worker.launch()
            worker.wait_ready(180)
        client = sdk_client(server.url, server.admin_key())
        client.images.generate(model="gesso-base", prompt="warm up", n=1)
        sequential = sequential_latency(client, SEQUENTIAL_REQUESTS)
        figures = drive(client, CLIENTS, requests_per_client)
    return {**figures, "sequential": sequential}


def run(requests_per_client: int = 4, repeats: int = 3) -> str:
    results: dict[str, list[dict]] = {name: [] for name in SETUPS}
    with tempfile.TemporaryDirectory(prefix="gesso-bench-") as tmp:
        postgres = start_postgres(Path(tempfile.mkdtemp(prefix="gesso-pg-")))  # its own folder: the postgres user owns it
        seaweed = start_seaweedfs(Path(tmp) / "s3")
        try:
            for r in range(repeats):
                for i, (name, (shared, workers)) in enumerate(SETUPS.items()):
                    root = Path(tmp) / f"run-{r}-{i}"
                    results[name].append(_measure(root, shared, workers, postgres, seaweed, requests_per_client))
                    shutil.rmtree(root, ignore_errors=True)
                    print(f"  repeat {r + 1}/{repeats}: {name}: {results[name][-1]['images_per_s']:.2f} img/s", flush=True)  # noqa: T201
        finally:
            seaweed.stop()
            postgres.stop()

    def median(name: str, key: str) -> float:
        return statistics.median(row[key] for row in results[name])

    names = list(SETUPS)
    lines = [
        f"## Replicas and workers on PostgreSQL + S3: {CLIENTS} concurrent clients",
        "",
        f"Each client sends {requests_per_client} `images.generate` calls (n=1, default settings, shipped model)",
        "through the official `openai` SDK. PostgreSQL (Debian) and SeaweedFS (`weed server -s3`) run on",
        "loopback on the same machine. Every setup runs once per repeat, in turn; medians of",
        f"{repeats} repeats. All processes share this machine's cores, so a second worker adds no",
        "compute here: the 2-worker row measures the cost of coordination, not a second machine's gain.",
        "Each worker sizes its torch threads to the machine's cores, as it should on a machine of its own;",
        "two on one machine therefore run twice as many compute threads as there are cores, and contend.",
        "The 'one request alone' column of the worker rows includes the idle worker's poll interval (0.5 s).",
        "",
        "| setup | images/s | p50 latency | p95 latency | one request alone |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in names:
        lines.append(
            f"| {name} | {median(name, 'images_per_s'):.2f} | {median(name, 'p50'):.2f} s | "
            f"{median(name, 'p95'):.2f} s | {median(name, 'sequential'):.3f} s |"
        )
    ratio = lambda a, b: statistics.median(  # noqa: E731
        x["images_per_s"] / y["images_per_s"] for x, y in zip(results[a], results[b])
    )
    overhead = [x["sequential"] - y["sequential"] for x, y in zip(results[names[1]], results[names[0]])]
    lines += [
        "",
        f"- Two workers against one (same PostgreSQL and SeaweedFS), images/s: **{ratio(names[3], names[2]):.2f}x**.",
        f"- One API replica + one worker against the embedded default, images/s: **{ratio(names[2], names[0]):.2f}x**.",
        f"- Per-image overhead of PostgreSQL + S3 against SQLite + disk (one request alone, embedded server):"
        f" **{statistics.median(overhead) * 1000:+.0f} ms** (median of the per-repeat differences).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(requests_per_client=2, repeats=1))  # noqa: T201
