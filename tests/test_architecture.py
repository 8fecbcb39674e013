"""The shape of the code (issue 11): no import cycles inside core/ or bot/, no module
of core/ over 450 lines, core/ free of Discord, and core/ never importing the bot."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 450


def modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `package`."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of `known` that `name` imports at run time (imports under
    `if TYPE_CHECKING:` are for the type checker only and are not counted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        for target in targets:
            t = target
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in state and (cycle := visit(m)):
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


@pytest.mark.parametrize("package", ["core", "bot"])
def test_no_import_cycles(package: str) -> None:
    mods = modules(package)
    graph = {}
    for name, path in mods.items():
        parent = name.rpartition(".")[0]
        # importing a submodule runs its package's __init__ first: not a cycle by itself
        graph[name] = {m for m in imports_of(name, path, set(mods))
                       if not (name.startswith(m + ".") or m == parent)}
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_core_module_over_the_limit() -> None:
    long = {str(p.relative_to(ROOT)): n for p in modules("core").values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_core_never_imports_discord_or_the_bot() -> None:
    for name, path in modules("core").items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for n in names:
                assert n.split(".")[0] not in ("discord", "bot", "cogs"), f"{name} imports {n}"


def test_core_has_no_discord_markup_or_source_checks() -> None:
    """Mentions (<#id>, <@id>) are the bot's to render, and no decision in core depends
    on a job coming from Discord; only config.py's [discord] section names it."""
    for name, path in modules("core").items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                assert "<#" not in text, f"{name}: {text!r}"
                assert "<@" not in text, f"{name}: {text!r}"
                if name != "core.config":
                    assert text.lower() != "discord", f"{name}: {text!r}"
