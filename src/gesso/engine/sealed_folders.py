"""Folders of files as sealed bytes and back, for what travels between a Ray fine-tune's driver
and its workers (datasets, checkpoints, the adapter): `{"<prefix>/<relative path>": sealed}`."""

from __future__ import annotations

from pathlib import Path

from gesso.jobs.fine_tunes import FileSealing


def seal_folder(sealing: FileSealing, folder: Path, prefix: str, suffixes: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file below `folder` (only those ending in `suffixes`, when given), sealed."""
    sealed = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (not suffixes or path.suffix in suffixes):
            name = f"{prefix}/{path.relative_to(folder).as_posix()}"
            sealed[name] = sealing.seal(name, path.read_bytes())
    return sealed


def open_into(sealing: FileSealing, sealed: dict[str, bytes], prefix: str, folder: Path) -> Path:
    """Write the files under `prefix` into `folder`, opened; ValueError for a name that would
    leave it or a file that does not open."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in sealed.items():
        if not name.startswith(prefix + "/"):
            continue
        relative = Path(name[len(prefix) + 1:])
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"a travelling file is named {name!r}")
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(sealing.open(name, data))
    return folder
