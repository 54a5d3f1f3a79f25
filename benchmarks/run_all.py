"""Run the benchmarks and write docs/BENCHMARKS.md.

`python -m benchmarks.run_all` runs them all and rewrites the file; `--only bench_replicas ...`
runs the named ones and replaces just their sections, each of which names its own machine and date.
"""

from __future__ import annotations

import argparse
import datetime
import re
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    bench_cli,
    bench_delivery,
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

BENCHES: dict[str, Callable[[], str]] = {
    module.__name__.rsplit(".", 1)[-1]: module.run
    for module in (
        bench_generation, bench_flops, bench_training, bench_server, bench_delivery, bench_replicas,
        bench_finetune, bench_ray_serve, bench_ray_finetune, bench_cli,
    )
}
TARGET = Path("docs/BENCHMARKS.md")
HEADER = [
    "# Benchmarks",
    "",
    "Written by `make bench`; every figure is a median of several runs on the machine its section",
    "names, and every ratio compares two variants measured side by side in the same run.",
    "",
]
SECTION = re.compile(r"<!-- bench: (\w+) -->\n.*?<!-- /bench -->\n", re.S)


def tagged(name: str, body: str) -> str:
    """A section between markers, so that a later partial run can find and replace it."""
    stamp = f"_Measured on {machine()}, {datetime.date.today().isoformat()}._"
    heading, _, rest = body.strip("\n").partition("\n")
    return f"<!-- bench: {name} -->\n{heading}\n\n{stamp}\n{rest}\n<!-- /bench -->\n"


def merge(existing: str, fresh: dict[str, str]) -> str:
    """`existing` with the sections named in `fresh` replaced (or appended, in BENCHES order)."""
    sections = {m.group(1): m.group(0) for m in SECTION.finditer(existing)}
    sections.update(fresh)
    ordered = [sections[name] for name in BENCHES if name in sections]
    return "\n".join(HEADER) + "\n" + "\n".join(ordered)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run just these benchmarks")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHES)
    fresh = {}
    for name in names:
        print(f"running {name} ...", flush=True)  # noqa: T201 (a CLI script)
        fresh[name] = tagged(name, BENCHES[name]())
    existing = TARGET.read_text() if args.only and TARGET.is_file() else ""
    TARGET.write_text(merge(existing, fresh))
    print(f"wrote {TARGET}")  # noqa: T201


if __name__ == "__main__":
    main()
