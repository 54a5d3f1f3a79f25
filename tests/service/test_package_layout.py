"""The service's top level holds the app, its dependencies and packages, nothing else; fine-tuning
has one spelling."""

from __future__ import annotations

from pathlib import Path

import gesso.service

SERVICE = Path(gesso.service.__file__).parent
APP_MODULES = {"__init__.py", "app.py", "server.py", "deps.py"}


def _entries(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.name != "__pycache__"]


def test_the_service_top_level_holds_only_the_app_deps_and_packages():
    files = {path.name for path in _entries(SERVICE) if path.is_file()}
    folders = [path for path in _entries(SERVICE) if path.is_dir()]
    assert files == APP_MODULES
    assert folders, "the routes live in packages below the app"
    assert [folder.name for folder in folders if not (folder / "__init__.py").is_file()] == []


def test_no_service_module_spells_fine_tuning_another_way():
    names = {path.relative_to(SERVICE).as_posix() for path in SERVICE.rglob("*.py")}
    assert (SERVICE / "fine_tuning").is_dir()
    assert sorted(name for name in names if "finetun" in name or "fine_tuned" in name) == []
