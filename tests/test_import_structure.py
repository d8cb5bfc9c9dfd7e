"""The package's floors (DESIGN.md): cli -> generation/metrics/train -> models -> models/common ->
data -> conformer_kernels. A lower floor never imports a higher one, two models never import each
other, and no product code reaches into conformer_kernels' test helpers."""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python")
MODELS = ("confopt", "dmcg", "confgf", "confvae")


def _imports():
    """(module, imported module) for every import under python/conformers, relative ones resolved."""
    for folder, _, files in os.walk(os.path.join(ROOT, "conformers")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
            package = parts[:-1]  # what a relative import of level 1 names, for a module and an __init__
            module = ".".join(parts if parts[-1] != "__init__" else parts[:-1])
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        yield module, alias.name
                elif isinstance(node, ast.ImportFrom):
                    base = package[:len(package) - node.level + 1] if node.level else []
                    target = ".".join(base + ([node.module] if node.module else []))
                    yield module, target
                    for alias in node.names:  # `from . import x` imports a module x
                        yield module, f"{target}.{alias.name}"


EDGES = list(_imports())


def test_the_walk_sees_the_package():
    assert ("conformers.models.confvae.model", "conformers.models.common") in EDGES


@pytest.mark.parametrize("model", MODELS)
def test_no_model_imports_another(model):
    mine = f"conformers.models.{model}"
    bad = [(a, b) for a, b in EDGES if a.startswith(mine) and any(
        b.startswith(f"conformers.models.{other}") for other in MODELS if other != model)]
    assert not bad, bad


def test_data_and_the_floor_import_nothing_above_them():
    bad = [(a, b) for a, b in EDGES if a.startswith("conformers.data") and b.startswith("conformers.models")]
    bad += [(a, b) for a, b in EDGES if a.startswith("conformers.models.common") and (
        any(b.startswith(f"conformers.models.{m}") for m in MODELS) or b.startswith("conformers.models.base"))]
    assert not bad, bad


def test_product_code_reaches_the_kernels_through_their_public_api():
    """Not the test helpers, not the references (use_reference() switches to them), not ops internals."""
    assert not [(a, b) for a, b in EDGES if b.startswith("conformer_kernels.")]


def test_no_import_loop():
    """The module graph under python/conformers has no cycle (a package importing its own modules aside)."""
    graph = {}
    modules = {a for a, _ in EDGES}
    for a, b in EDGES:
        if b in modules and a != b and not b.startswith(a + "."):
            graph.setdefault(a, set()).add(b)
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                raise AssertionError(" -> ".join(path + [node, nxt]))
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_each_op_family_binds_itself():
    """csrc/bindings: one file per op family; module.cpp only lists them."""
    folder = os.path.join(os.path.dirname(ROOT), "csrc", "bindings")
    module = open(os.path.join(folder, "module.cpp")).read()
    assert len(module.splitlines()) < 150
    families = sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".cpp") and f != "module.cpp")
    assert families and all(f"bind_{f}(m);" in module for f in families)
