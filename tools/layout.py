"""The package's import graph, read from the source: modules, cycles, function-level imports
and the largest files.

``python tools/layout.py`` prints the counts (the closing note of a layout change quotes them
before and after); ``tests/test_layout.py`` uses :func:`import_graph` and :func:`cycles` to
keep the graph free of cycles. Every import statement counts (top level, inside functions,
under ``if``), so a cycle cannot hide in a function.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "illusion"


def modules(root: Path = ROOT) -> dict[str, Path]:
    """``{dotted module name: path}`` of every ``.py`` file under ``root``."""
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, package: list[str]):
    """``(node, imported names, inside a function)`` of every import statement of a file."""
    tree = ast.parse(path.read_text())
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef,
                                                                ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        yield node, names, id(node) in inside


def import_graph(root: Path = ROOT, function_level: list | None = None) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, submodule imports resolved to the
    module; ``function_level`` (a list) receives ``(module, imported)`` of every import made
    inside a function."""
    mods = modules(root)

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for _, names, in_function in _imports(path, package):
            targets = {t for t in map(resolve, names) if t and t != mod}
            graph[mod] |= targets
            if in_function and function_level is not None:
                function_level += [(mod, t) for t in sorted(targets)]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="package folder (src/illusion)")
    parser.add_argument("--largest", type=int, default=8, help="how many files to list")
    args = parser.parse_args(argv)
    if not (args.root / "__init__.py").is_file():
        print(f"error: {args.root} is not a package folder", file=sys.stderr)
        return 2
    local: list = []
    graph = import_graph(args.root, local)
    found = cycles(graph)
    print(f"modules: {len(graph)}  import edges: {sum(map(len, graph.values()))}  "
          f"cycles: {len(found)}  function-level imports of the package: {len(local)}")
    for component in found:
        print("  cycle: " + " -> ".join(component))
    for mod, target in local:
        print(f"  in a function: {mod} imports {target}")
    sizes = sorted(((len(p.read_text().splitlines()), m) for m, p in modules(args.root).items()),
                   reverse=True)
    print("largest files (lines): " + ", ".join(f"{m.removeprefix('illusion.')} {n}"
                                                for n, m in sizes[:args.largest]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
