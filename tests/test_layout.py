"""The package's layout: data flows one way, readers -> preprocessing -> store -> models ->
training -> experiments -> analysis -> chapters, with no import cycle; the chapters read their
grids from the registry."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "emolab"

#: Each stage and the modules (prefixes) in it, lowest first.  A module may import from its own
#: stage and the stages before it, never from a later one.
LAYERS = [
    ("base", ["emolab._logging", "emolab.paths", "emolab.workers"]),
    ("readers", ["emolab.data"]),
    ("preprocessing", ["emolab.preprocess"]),
    ("store", ["emolab.store"]),
    ("models", ["emolab.models"]),
    ("training", ["emolab.train"]),
    ("experiments", ["emolab.experiments"]),
    ("analysis", ["emolab.analysis", "emolab.reference"]),
    ("chapters", ["emolab.viz", "emolab.exercises", "emolab.chapter", "emolab.book", "emolab.cli",
                  "emolab.sweep_config", "emolab.sphinx_book"]),
]  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _layer(module: str) -> int:
    if module == "emolab":
        return 0
    found = [i for i, (_, prefixes) in enumerate(LAYERS)
             for p in prefixes if module == p or module.startswith(p + ".")]  # fmt: skip
    if not found:
        raise AssertionError(f"{module} is in no stage of tests/test_layout.py LAYERS: add it where it belongs")
    return max(found)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The emolab modules ``path`` imports (``from emolab.x import y`` counts as emolab.x, and
    as emolab.x.y when that is a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # imports inside `if TYPE_CHECKING:` never run
        nodes = [n for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = _modules()
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "emolab"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "emolab":
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules}
    return out


def test_every_module_has_a_stage():
    for name in _modules():
        _layer(name)


def test_no_module_imports_from_a_later_stage():
    """Lazy imports inside functions count too: they are dependencies all the same."""
    bad = []
    for name, path in _modules().items():
        for dep in _imports(path, top_level_only=False):
            if _layer(dep) > _layer(name):
                bad.append(f"{name} ({LAYERS[_layer(name)][0]}) imports {dep} ({LAYERS[_layer(dep)][0]})")
    assert not bad, "imports against the flow of data:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    """Module-level imports between emolab's modules form no cycle (a package's ``__init__``
    that re-exports its modules is the package itself, not a cycle with them)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        deps = set()
        for dep in _imports(path, top_level_only=True):
            if dep in modules and dep != name and not name.startswith(dep + "."):  # a module's own packages
                deps.add(dep)
        graph[name] = deps
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if modules[dep].name == "__init__.py" and node.startswith(dep + "."):
                continue
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep] if dep in stack else [node, dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_importing_stage_by_stage_loads_no_later_stage():
    """Import every module of each stage in a fresh interpreter, lowest stage first: after a
    stage, no module of a later stage is loaded."""
    stages = [[m for m in _modules() if m != "emolab" and _layer(m) == i] for i in range(len(LAYERS))]
    script = f"""
import importlib, sys
stages = {stages!r}
prefixes = {[p for _, p in LAYERS]!r}
for i, mods in enumerate(stages):
    for m in mods:
        importlib.import_module(m)
    later = [m for m in sys.modules if any(m == p or m.startswith(p + ".") for ps in prefixes[i + 1:] for p in ps)]
    if later:
        sys.exit(f"after stage {{i}} the later modules {{sorted(later)}} are loaded")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _code_for_ast(code: str) -> str:
    """``code`` without IPython's magics and shell lines, so that :mod:`ast` parses it."""
    return "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())


def _code(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("chapter, names", [
    ("05", ["unimodal", "control"]), ("06", ["concat"]), ("07", ["gated", "fusion"]), ("08", ["results"]),
])  # fmt: skip
def test_chapters_read_their_grids_from_the_registry(chapter, names):
    from emolab import experiments as ex

    code = _code(next((ROOT / "notebooks").glob(f"{chapter}_*.ipynb")))
    for name in names:
        assert re.search(rf"ex\.grids?\(\"{name}\"\)", code), f"chapter {chapter} does not read grid {name!r}"
        assert all(g.chapter == chapter for g in ex.grids(name))
    # no grid typed into the notebook: run_grid / grid_cells get no models / modalities / tasks /
    # protocols keywords of their own, only a registry grid's kwargs
    typed = [f"{ast.unparse(call)[:80]}" for call in ast.walk(ast.parse(_code_for_ast(code)))
             if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
             and call.func.attr in ("run_grid", "grid_cells")
             and {k.arg for k in call.keywords} & {"models", "modalities", "tasks", "protocols"}]  # fmt: skip
    assert not typed, f"chapter {chapter}: a grid typed in: {typed}"


def test_chapter_09_reads_the_signature_sources_of_the_registry():
    from emolab import experiments as ex

    code = _code(next((ROOT / "notebooks").glob("09_*.ipynb")))
    assert "an.signature_sources(" in code and '"signatures"' in code
    found = ex.grids("signatures")
    assert len(found) == len(ex.SIGNATURE_SOURCES)
    for g, (knobs, prep) in zip(found, ex.SIGNATURE_SOURCES.values()):
        assert g.synthetic == (knobs,) and g.preprocessing == prep


def test_every_registry_grid_belongs_to_a_chapter_that_reads_it():
    from emolab import experiments as ex

    for name, found in ex.GRIDS.items():
        chapters = {g.chapter for g in found}
        assert len(chapters) == 1, name
        code = _code(next((ROOT / "notebooks").glob(f"{chapters.pop()}_*.ipynb")))
        assert f'"{name}"' in code, f"grid {name!r} is read by no chapter"


@pytest.mark.parametrize("nb_path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem[:2])
def test_notebook_imports_and_attributes_resolve(nb_path):
    """Every emolab import of a chapter names a module or attribute that exists, and so does every
    ``alias.name`` it reads from an imported emolab module (``ex.grid``, ``an.fusion_branches``):
    caught here in seconds rather than after executing the book."""
    import importlib

    aliases = {}  # local name -> emolab module
    trees = []
    for c in json.loads(nb_path.read_text())["cells"]:
        if c["cell_type"] != "code":
            continue
        src = "\n".join(line for line in "".join(c["source"]).splitlines() if not line.startswith(("%", "!")))
        trees.append(ast.parse(src))
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "emolab":
                mod = importlib.import_module(node.module)
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    assert hasattr(mod, a.name) or importlib.util.find_spec(sub), f"{nb_path.name}: from {node.module} import {a.name}"
                    if importlib.util.find_spec(sub) if not hasattr(mod, a.name) else isinstance(getattr(mod, a.name), type(mod)):
                        aliases[a.asname or a.name] = importlib.import_module(sub)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "emolab":
                        importlib.import_module(a.name)
                        if a.asname:
                            aliases[a.asname] = importlib.import_module(a.name)
    missing = sorted({f"{node.value.id}.{node.attr}" for tree in trees for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                      and node.value.id in aliases and not hasattr(aliases[node.value.id], node.attr)})  # fmt: skip
    assert not missing, f"{nb_path.name} reads attributes its emolab modules lack: {missing}"


def test_package_all_names_exist():
    """Every name a package's ``__all__`` exports is defined there."""
    import importlib

    for name, path in _modules().items():
        if path.name != "__init__.py":
            continue
        mod = importlib.import_module(name)
        missing = sorted(set(getattr(mod, "__all__", ())) - set(dir(mod)))
        assert not missing, f"{name}.__all__ names what it does not define: {missing}"
