"""The package's shape, read from the source with `ast`: imports flow one way between layers
(model, data, train < jobs < engine, store < governance < service < web, cli), the layers form
no cycle, modules stay small, and no comment or docstring cites a tracker's issue number."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "gesso"
MAX_LINES = 400

# Top-level modules and packages -> their layer. The CLI's two modules are one layer.
LAYER_OF = {"cli": "cli", "cli_governance": "cli", "settings": "settings", "offline": "settings"}
# Each layer with the layers it may import (besides itself).
MAY_IMPORT = {
    "settings": set(),
    "model": {"settings", "data"},
    "data": {"settings", "model"},
    "train": {"settings", "model", "data"},
    "jobs": {"settings", "model", "data", "train"},
    "engine": {"settings", "model", "data", "train", "jobs"},
    "store": {"settings", "model", "data", "train", "jobs"},
    "governance": {"settings", "model", "data", "train", "jobs", "engine", "store"},
    "service": {"settings", "model", "data", "train", "jobs", "engine", "store", "governance", "web"},
    "web": set(),
    "cli": {"settings", "model", "data", "train", "jobs", "engine", "store", "governance", "service"},
}
ISSUE_NUMBER = re.compile(r"\bissue\s*#?\d+", re.IGNORECASE)


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module under src/gesso."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_gesso_modules(name: str, path: Path) -> set[str]:
    """The gesso modules `name` imports anywhere in its body (lazy imports in functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    known = modules()
    return {module for module in found if module in known and module != name}


def layer(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return LAYER_OF.get(parts[1], parts[1])


def import_graph() -> dict[str, set[str]]:
    return {name: imported_gesso_modules(name, path) for name, path in modules().items()}


def test_every_top_level_module_has_a_layer():
    unknown = {layer(name) for name in modules()} - set(MAY_IMPORT) - {None}
    assert not unknown, f"give these a layer in MAY_IMPORT: {sorted(unknown)}"


def test_each_layer_imports_only_the_layers_below_it():
    wrong = []
    for name, imported in import_graph().items():
        own = layer(name)
        if own is None:
            continue
        for target in sorted(imported):
            other = layer(target)
            if other not in (None, own) and other not in MAY_IMPORT[own]:
                wrong.append(f"{name} ({own}) imports {target} ({other})")
    assert not wrong, "\n".join(wrong)


def test_the_stated_rules_hold():
    """Spelled out: store never imports engine; engine never imports store or governance; jobs
    imports neither; nothing below the service imports it."""
    forbidden = {
        "store": {"engine"},
        "engine": {"store", "governance"},
        "jobs": {"engine", "store", "governance", "service"},
        **{below: {"service"} for below in ("model", "data", "train", "jobs", "engine", "store", "governance")},
    }
    wrong = [
        f"{name} imports {target}"
        for name, imported in import_graph().items()
        for target in imported
        if layer(target) in forbidden.get(layer(name), set())
    ]
    assert not wrong, "\n".join(sorted(wrong))


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_layers_form_no_cycle():
    graph: dict[str, set[str]] = {}
    for name, imported in import_graph().items():
        own = layer(name)
        if own is not None:
            graph.setdefault(own, set()).update(layer(t) for t in imported if layer(t) not in (None, own))
    assert cycles(graph) == []


def test_no_module_import_cycle():
    # lazy imports inside functions count: the dependency is there all the same
    graph = {name: {t for t in imported if t != "gesso"} for name, imported in import_graph().items()}
    assert cycles(graph) == [], sorted(sorted(component) for component in cycles(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def line_counts() -> dict[str, int]:
    return {
        path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in modules().values()
        if "migrations" not in path.relative_to(PACKAGE).parts
    }


def test_no_module_is_longer_than_the_limit():
    counts = line_counts()
    over = {name: lines for name, lines in counts.items() if lines > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"


def comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    found = [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                found.append((node.body[0].lineno, doc))
    return found


def test_no_comment_or_docstring_cites_an_issue_number():
    cited = [
        f"{path.relative_to(PACKAGE)}:{line}: {text.strip()[:80]}"
        for path in modules().values()
        for line, text in comments_and_docstrings(path)
        if ISSUE_NUMBER.search(text)
    ]
    assert not cited, "\n".join(cited)


@pytest.mark.parametrize("spelling", ["# see {} 12", "fixed in {} #7", "{}#3: retry"])
def test_the_issue_pattern_catches_the_usual_spellings(spelling):
    assert ISSUE_NUMBER.search(spelling.format("Issue"))
