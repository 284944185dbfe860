"""The import graph a newcomer would check: no circles, a library that knows no gRPC,
a server that imports only the library and the generated stubs, and stubs that are a leaf.

Read from the source with ``ast`` (every import, at module level or inside a function,
so a late import that dodges a circle still counts), plus one real import in a fresh
interpreter to prove the library loads without grpc."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "promptprint"

# The adapters: everything else under promptprint/ is the library.
ADAPTERS = ("promptprint.server", "promptprint.cli", "promptprint.client", "promptprint.local_server", "promptprint.wire")
STUBS = "promptprint.v1"
GRPC_ROOTS = ("grpc", "grpc_status", "grpc_health", "grpc_reflection", "google.protobuf", "google.rpc")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module named by an import statement in ``path``, resolved to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {imp for imp in _imports(path, name) if imp in modules and imp != name}
    return graph


def _raw_imports() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p, _module_name(p)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def _within(name: str, roots: tuple[str, ...] | str) -> bool:
    roots = (roots,) if isinstance(roots, str) else roots
    return any(name == r or name.startswith(r + ".") for r in roots)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circles_between_modules() -> None:
    graph = _graph()
    # A package's __init__ naming its own modules is not a circle worth reporting.
    for name in graph:
        graph[name] = {m for m in graph[name] if not (m.startswith(name + ".") and name in graph)}
    assert _cycles(graph) == []


def test_no_import_circles_between_subpackages() -> None:
    """The folders are layers (text -> templates -> vectors/storage -> index -> jobs,
    reconstruct -> server, cli): no two of them import each other, even through third ones."""
    graph: dict[str, set[str]] = {}
    for module, imports in _graph().items():
        layer = ".".join(module.split(".")[:2])
        graph.setdefault(layer, set()).update(".".join(i.split(".")[:2]) for i in imports)
    for layer in graph:
        graph[layer].discard(layer)
        graph[layer] &= graph.keys()
    assert _cycles(graph) == []


def test_library_knows_no_grpc_and_no_adapter() -> None:
    offenders = {
        module: sorted(i for i in imports if _within(i, GRPC_ROOTS) or _within(i, ADAPTERS) or _within(i, STUBS))
        for module, imports in _raw_imports().items()
        if module.startswith("promptprint") and not _within(module, ADAPTERS) and not _within(module, STUBS)
    }
    assert {m: i for m, i in offenders.items() if i} == {}


def test_server_imports_only_the_library_and_the_stubs() -> None:
    offenders = {
        module: sorted(i for i in imports if _within(i, ("promptprint.cli", "promptprint.client", "promptprint.local_server")))
        for module, imports in _raw_imports().items()
        if _within(module, "promptprint.server")
    }
    assert {m: i for m, i in offenders.items() if i} == {}


def test_stubs_are_a_leaf() -> None:
    offenders = {
        module: sorted(i for i in imports if i.startswith("promptprint") and not _within(i, STUBS))
        for module, imports in _raw_imports().items()
        if _within(module, STUBS)
    }
    assert {m: i for m, i in offenders.items() if i} == {}


@pytest.mark.parametrize(
    "module",
    ["promptprint.index.prompt_index", "promptprint.jobs.reindex", "promptprint.reconstruct.pipeline"],
)
def test_library_imports_without_loading_grpc(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'grpc_status') or m.startswith('google.rpc'))\n"
        "print(loaded)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
