"""`gesso generate "PROMPT"` from a cold shell: the wall clock of the whole command (one image,
default settings, shipped model), beside `gesso --help`, and where the time goes: the imports, the
model load and the sampling, read from `-X importtime` and the command's own timing lines.
Each run is a fresh process; the file cache is warm after the first (a second run is what a user
sees), so the first is dropped."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
GESSO = [sys.executable, "-m", "gesso.cli"]


def _wall(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _import_seconds(module: str, env: dict[str, str]) -> float:
    """Cumulative import time of `module` in a fresh process (`-X importtime`)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], env=env,
                          capture_output=True, text=True, check=True)
    for line in done.stderr.splitlines()[::-1]:
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1e6
    return float("nan")


def run(runs: int = RUNS) -> str:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    with tempfile.TemporaryDirectory() as out:
        generate = [*GESSO, "generate", "red apple", "--out", str(Path(out) / "o")]
        help_ = [*GESSO, "--help"]
        _wall(generate, env)  # the file cache is warm from here on
        rounds = [(_wall(generate, env), _wall(help_, env)) for _ in range(runs)]
    gen = statistics.median(r[0] for r in rounds)
    helped = statistics.median(r[1] for r in rounds)
    imports = {m: _import_seconds(m, env) for m in ("torch", "diffusers", "transformers", "gesso.engine.file_generation")}
    lines = [
        '## CLI cold start: `gesso generate "red apple"`, one image, default settings',
        "",
        f"Fresh process each time, medians of {runs} runs in turn (after one warm-up for the file cache).",
        "",
        "| command | median wall clock |",
        "| --- | --- |",
        f'| `gesso generate "red apple"` | {gen:.2f} s |',
        f"| `gesso --help` | {helped:.2f} s |",
        "",
        "Import time of the libraries it needs, each in a fresh process (`-X importtime`, cumulative):",
        "",
        "| module | import |",
        "| --- | --- |",
        *[f"| `{m}` | {s:.2f} s |" for m, s in imports.items()],
        "",
        f"`gesso.engine.file_generation` (everything `gesso generate` imports) is "
        f"{imports['gesso.engine.file_generation'] / gen:.0%} of the command's wall clock; the rest, "
        f"{gen - imports['gesso.engine.file_generation']:.2f} s, loads the model and the text encoder, "
        "samples and writes the PNG.",
    ]
    return "\n".join(lines) + "\n"
