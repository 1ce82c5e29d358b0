"""Figures of the architecture: the apps, the cycles between them, the imports that run up the layers, the
cycles between modules and the largest modules. `lint-imports` enforces the layers; this measures them.

    .venv/bin/python scripts/architecture.py [--largest 10]

It reads the import graph with grimp (the library import-linter is built on); migrations are left out, since
Django writes their imports. The layer order is the one docs/architecture.md describes, lowest first.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
# Lowest first, as in the layers contract of pyproject.toml; apps on one line are siblings, which may not import
# each other (an import between them counts as upward).
LAYERS: list[list[str]] = [
    ["core"],
    ["users"],
    ["tenants", "audit"],
    ["integrations"],
    ["accounts", "notifications"],
    ["connectors"],
    ["metrics"],
    ["playbooks"],
    ["reviews"],
    ["workspace"],
    ["config"],
]

def _packages() -> list[str]:
    return [name for layer in LAYERS for name in layer if (ROOT / name / "__init__.py").exists()]


def _rank() -> dict[str, int]:
    return {name: index for index, layer in enumerate(LAYERS) for name in layer}


def _is_migration(module: str) -> bool:
    return ".migrations" in module


def _top(module: str) -> str:
    return module.split(".")[0]


def _imports(graph: grimp.ImportGraph) -> list[tuple[str, str, int]]:
    """Every (importer, imported, line) between project modules, migrations left out."""
    found = []
    for importer in sorted(graph.modules):
        if _is_migration(importer):
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            if _is_migration(imported):
                continue
            for detail in graph.get_import_details(importer=importer, imported=imported):
                found.append((importer, imported, detail["line_number"]))
    return found


def _strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of nodes that all reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def _module_lines(module: str) -> int:
    path = ROOT / Path(*module.split("."))
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return len(file.read_text().splitlines()) if file.exists() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--largest", type=int, default=10, help="how many of the largest modules to list")
    arguments = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    packages = _packages()
    graph = grimp.build_graph(*packages, cache_dir=None)
    imports = _imports(graph)
    rank = _rank()

    app_edges: dict[str, set[str]] = {}
    module_edges: dict[str, set[str]] = {}
    upward: list[tuple[str, str, int]] = []
    for importer, imported, line in imports:
        module_edges.setdefault(importer, set()).add(imported)
        if _top(importer) != _top(imported):
            app_edges.setdefault(_top(importer), set()).add(_top(imported))
            if rank[_top(importer)] <= rank[_top(imported)]:
                upward.append((importer, imported, line))
    apps = [name for name in packages if (ROOT / name / "apps.py").exists()]
    app_cycles = _strongly_connected(set(packages), app_edges)
    mutual = sorted({tuple(sorted((a, b))) for a, targets in app_edges.items() for b in targets
                     if a in app_edges.get(b, set())})
    modules = {module for module in graph.modules if not _is_migration(module)}
    module_cycles = _strongly_connected(modules, module_edges)

    print(f"packages measured: {len(packages)} ({', '.join(packages)})")
    print(f"Django apps: {len(apps)}")
    print(f"modules: {len(modules)}, imports between them: {len(imports)}")
    print(f"app imports (app -> app pairs): {sum(len(targets) for targets in app_edges.values())}")
    print(f"cycles between apps (groups of apps that reach each other): {len(app_cycles)}")
    for group in app_cycles:
        print(f"  {len(group)} apps: {', '.join(group)}")
    print(f"pairs of apps importing each other directly: {len(mutual)}")
    for a, b in mutual:
        print(f"  {a} <-> {b}")
    print(f"upward imports (against the layer order): {len(upward)} in "
          f"{len({(_top(a), _top(b)) for a, b, _ in upward})} app pairs")
    for (importer_app, imported_app), count in sorted(Counter((_top(a), _top(b)) for a, b, _ in upward).items()):
        print(f"  {importer_app} -> {imported_app}: {count}")
    print(f"cycles between modules: {len(module_cycles)}")
    for group in module_cycles:
        print(f"  {' <-> '.join(group)}")
    print("largest modules (lines):")
    for module in sorted(modules, key=_module_lines, reverse=True)[:arguments.largest]:
        print(f"  {_module_lines(module):5d}  {module}")
    return 1 if app_cycles or module_cycles or upward else 0


if __name__ == "__main__":
    sys.exit(main())
