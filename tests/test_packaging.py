"""What pyproject.toml declares is true of the code: the Python it needs, the license file, one version."""
import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import gradcheck

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _stdlib_modules_used() -> set[str]:
    names = set()
    for path in (ROOT / "gradcheck").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_requires_python_covers_the_standard_library_used():
    minimum = tuple(map(int, re.fullmatch(r">=(\d+)\.(\d+)", PROJECT["project"]["requires-python"]).groups()))
    new_in = {"tomllib": (3, 11)}  # standard-library modules newer than the oldest Python still supported
    used = {m: v for m, v in new_in.items() if m in _stdlib_modules_used()}
    assert all(minimum >= v for v in used.values()), (minimum, used)


def test_one_version_and_the_declared_license_file():
    project = PROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gradcheck.__version__"}
    out = subprocess.run([sys.executable, "-m", "gradcheck", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == f"gradcheck {gradcheck.__version__}"
    assert project["license"] == "MIT"
    text = (ROOT / project["license-files"][0]).read_text()
    assert text.startswith("MIT License") and "THE SOFTWARE IS PROVIDED \"AS IS\"" in text


# -- module hygiene --------------------------------------------------------------------------------------------
MODULES = {".".join(p.relative_to(ROOT).with_suffix("").parts[:-1] if p.name == "__init__.py"
                    else p.relative_to(ROOT).with_suffix("").parts): p for p in (ROOT / "gradcheck").rglob("*.py")}


def _imports(module: str) -> set[str]:
    """gradcheck modules ``module`` imports, at module level or inside functions (a lazy import is still an
    edge of the cycle); importing a submodule does not count its parent packages, which Python runs first."""
    path = MODULES[module]
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            target = ".".join(base[:len(base) - node.level + 1] + [node.module] if node.level else [node.module]) \
                if node.module else ".".join(base[:len(base) - node.level + 1])
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES}
            found |= subs | ({target} if len(subs) < len(node.names) else set())
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m in MODULES and m != module and not module.startswith(m + ".")}


def test_no_import_cycles():
    graph = {m: _imports(m) for m in MODULES}
    reach = {m: set(deps) for m, deps in graph.items()}
    changed = True
    while changed:  # transitive closure: a few hundred edges
        changed = False
        for m, seen in reach.items():
            new = set().union(*(reach[d] for d in seen)) - seen
            if new:
                seen |= new
                changed = True
    cycles = sorted(m for m in MODULES if m in reach[m])
    assert not cycles, f"modules on an import cycle: {cycles}"


def _package(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses_across_packages() -> set[tuple[str, str]]:
    """(module, name) for each private name a module takes from a package it is not inside: ``from P._m import
    f``, ``from P.m import _f``, or ``obj._f`` where ``_f`` is defined only in packages the module is not in."""
    trees = {m: ast.parse(p.read_text()) for m, p in MODULES.items()}
    owners: dict[str, set[str]] = {}  # private function, class or module-level name -> packages defining it
    for m, tree in trees.items():
        for node in ast.walk(tree):
            names = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else \
                [t.id for t in node.targets if isinstance(t, ast.Name)] if isinstance(node, ast.Assign) else []
            for name in filter(_private, names):
                owners.setdefault(name, set()).add(_package(m))

    def inside(module, package):
        return _package(module) == package or _package(module).startswith(package + ".")

    found = set()
    for m, tree in trees.items():
        base = _package(m).split(".")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("gradcheck")):
                source = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                for path in [source] + [f"{source}.{a.name}" for a in node.names]:
                    if "." not in path:
                        continue
                    owner, name = path.rsplit(".", 1)
                    owner_package = owner if owner in MODULES and MODULES[owner].name == "__init__.py" \
                        else owner.rsplit(".", 1)[0]
                    if _private(name) and not inside(m, owner_package):
                        found.add((m, path))
            elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr in owners:
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                if not any(inside(m, p) for p in owners[node.attr]):
                    found.add((m, node.attr))
    return found


# Owned by the `schema` stream of issue 13 (the parameter schema replaces fmt's uses; the geometry module
# makes the pooling windows public): delete each entry as it goes.
SCHEMA_STREAM = {("gradcheck.adapters", "gradcheck.layers._params"), ("gradcheck.report", "gradcheck.layers._params"),
                 ("gradcheck.mistakes.pool", "_windows")}


def test_no_private_names_across_packages():
    assert _private_uses_across_packages() - SCHEMA_STREAM == set()


def test_no_assert_statements_in_the_package():
    # python -O strips them: an invariant must raise a named error (gradcheck.errors.ReportError in reports)
    found = [f"{m}:{node.lineno}" for m, p in MODULES.items() for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Assert)]
    assert not found, found


def test_exact_names_one_thing():
    # "exact" is a layer whose oracles are held to == (Layer.exact, Plan.exact) and a result compared with ==;
    # converting data (symbolic.as_exact) and telling its kind (is_rational_data) have names of their own
    found = [f"{m}:{node.lineno} {node.name}" for m, p in MODULES.items() for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.FunctionDef) and node.name in ("exact", "is_exact", "_exact_if_large", "_python_ints_if_large")
             and not any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list)]
    assert not found, found
