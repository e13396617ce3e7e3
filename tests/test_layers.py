"""The package's layers, held by its imports: every import statement counts, at the top or in a function."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import singsynth

PACKAGE = Path(singsynth.__file__).parent

# What each layer may import of singsynth, besides itself. The model is the bottom; presets hold a model;
# training and playing both build on presets and never on each other; the command line is on top.
# Beneath them all: the one user-error type and the process settings, which import nothing of singsynth.
BASE = {"singsynth.errors", "singsynth.process"}
ALLOWED = {
    "singsynth.errors": set(),
    "singsynth.process": set(),
    "singsynth.io": BASE,
    "singsynth.gm": BASE,
    "singsynth.model": BASE,
    "singsynth.preset": BASE | {"singsynth.model"},
    "singsynth.train": BASE | {"singsynth.model", "singsynth.preset", "singsynth.gm", "singsynth.io"},
    "singsynth.synth": BASE | {"singsynth.model", "singsynth.preset", "singsynth.gm", "singsynth.io"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """Every singsynth module or package `path` imports, by absolute name."""
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def imports_in(source: str, name: str, is_package: bool) -> set[str]:
    package = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)  # `from . import x` may name a module
    return {m for m in found if m.startswith("singsynth.")}  # `from .. import gm` names the package root too


def layer_of(module: str) -> str | None:
    return next((layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")), None)


def is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=[module_name(p) for p in SOURCES])
def test_each_module_imports_only_the_layers_beneath_it(path):
    layer = layer_of(module_name(path))
    if layer is None:  # the command line and the package root may import anything
        return
    may = ALLOWED[layer] | {layer}
    wrong = sorted(m for m in imported(path) if is_module(m) and layer_of(m) not in may)
    assert not wrong, f"{module_name(path)} ({layer}) imports {wrong}"


def test_nothing_in_the_library_imports_the_command_line():
    for path in SOURCES:
        name = module_name(path)
        if name in ("singsynth.__main__", "singsynth.cli") or name.startswith("singsynth.commands"):
            continue
        wrong = sorted(m for m in imported(path) if m in ("singsynth.cli", "singsynth.commands")
                       or m.startswith("singsynth.commands."))
        assert not wrong, f"{name} imports {wrong}"


def test_commands_do_not_import_each_other():
    """What several commands share lives in commands/__init__.py and commands/_*.py, not in one command."""
    for path in (PACKAGE / "commands").glob("*.py"):
        if path.name.startswith("_"):
            continue
        own = module_name(path)
        wrong = sorted(m for m in imported(path) if m.startswith("singsynth.commands.") and m != own
                       and is_module(m) and not m.rpartition(".")[2].startswith("_"))
        assert not wrong, f"{own} imports {wrong}"


def test_the_checker_resolves_relative_imports_and_sees_a_wrong_one():
    found = imports_in("from ..synth.engine import Engine\nfrom . import sing\n", "singsynth.model.losses", False)
    assert {"singsynth.synth.engine", "singsynth.model.sing"} <= found
    assert layer_of("singsynth.synth.engine") not in ALLOWED["singsynth.model"] | {"singsynth.model"}



def runtime_imports(path: Path) -> set[str]:
    """imported(path) less what only type checkers read (under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = [ast.Pass()]
    return imports_in(ast.unparse(tree), module_name(path), path.name == "__init__.py")


def test_no_two_modules_import_each_other():
    """A module that imports another which imports it back (at the top or in a function) is one concern in two
    files, or a part in the wrong one."""
    graph = {module_name(p): {m for m in runtime_imports(p) if is_module(m)} for p in SOURCES}
    pairs = sorted({tuple(sorted((a, b))) for a, deps in graph.items() for b in deps
                    if a != b and a in graph.get(b, ()) and not (a.startswith(b + ".") or b.startswith(a + "."))})
    assert pairs == []


def test_no_module_holds_more_than_400_lines():
    """A module that grows past this holds more than one concern: split it (docs/engine.md draws the parts)."""
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
