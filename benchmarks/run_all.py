"""Run every benchmark and write docs/BENCHMARKS.md."""

from __future__ import annotations

import datetime
from pathlib import Path

from benchmarks import (
    bench_finetune,
    bench_flops,
    bench_generation,
    bench_ray_finetune,
    bench_ray_serve,
    bench_replicas,
    bench_server,
    bench_training,
)
from benchmarks.timing import machine

BENCHES = [
    bench_generation.run, bench_flops.run, bench_training.run, bench_server.run, bench_replicas.run,
    bench_finetune.run, bench_ray_serve.run, bench_ray_finetune.run,
]


def main() -> None:
    sections = []
    for bench in BENCHES:
        print(f"running {bench.__module__} ...", flush=True)  # noqa: T201 (a CLI script)
        sections.append(bench())
    header = [
        "# Benchmarks",
        "",
        "Written by `make bench`; every figure is a median of several runs on the machine below, and",
        "every ratio compares two variants measured side by side in the same run.",
        "",
        f"Machine: {machine()}. Date: {datetime.date.today().isoformat()}.",
        "",
    ]
    Path("docs/BENCHMARKS.md").write_text("\n".join(header + sections) + "\n")
    print("wrote docs/BENCHMARKS.md")  # noqa: T201


if __name__ == "__main__":
    main()
