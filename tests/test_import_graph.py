# SPDX-License-Identifier: GPL-2.0-or-later
"""The library's import graph: no cycles, no reaching into another module's private names.

Every import counts, including the lazy ones inside functions: a cycle that
only closes at run time is still two modules that cannot be understood apart.
"""

import ast
from pathlib import Path

from support.paths import LIB_DIR

LIB = Path(LIB_DIR)


def _modules():
    for path in sorted((LIB / "bacula_ha").rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(LIB).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        yield ".".join(parts), is_package, path


MODULES = {name: (is_package, path) for name, is_package, path in _modules()}


def _imports(name, is_package, path):
    """(imported module, imported name or None) for every import of a bacula_ha module."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bacula_ha"):
                    yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("bacula_ha"):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield (submodule, None) if submodule in MODULES else (target, alias.name)


def _graph():
    graph = {}
    for name, (is_package, path) in MODULES.items():
        edges = {target for target, _ in _imports(name, is_package, path) if target in MODULES}
        # importing a package's child imports the package too; that edge is implied, not a choice
        graph[name] = {t for t in edges if t != name and not name.startswith(t + ".")}
    return graph


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for name, (is_package, path) in MODULES.items():
        for target, imported in _imports(name, is_package, path):
            if imported and imported.startswith("_") and not imported.startswith("__"):
                offenders.append(f"{name} imports {target}.{imported}")
    assert offenders == []
