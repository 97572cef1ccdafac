"""docs/architecture.md against the code: it names every module, and no module imports another
that imports it back at import time (a cycle makes import order matter and splits stop working)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "genrekit"


def modules() -> dict[str, Path]:
    """``cli.models`` -> its file, for every module of the package (``__init__`` as the package)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def top_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports when it is imported: at module level, not in a
    function and not under ``if TYPE_CHECKING:`` (annotations only)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, (ast.If, ast.Try, ast.With)):
                for block in ("body", "orelse", "finalbody", "handlers"):
                    for part in getattr(node, block, []):
                        visit(part.body if isinstance(part, ast.ExceptHandler) else [part])
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".") if package else []
                    up = up[: len(up) - (node.level - 1)]
                    base = ".".join(["genrekit", *up, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in targets:
                if target == "genrekit" or not target.startswith("genrekit."):
                    continue
                module = target.removeprefix("genrekit.")
                while module and module not in known:  # a name imported from a module
                    module = module.rpartition(".")[0]
                if module and module != name:
                    found.add(module)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def test_architecture_md_names_every_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([A-Za-z_][\w./*]*)`", text))
    missing = []
    for name in modules():
        if not name or name.endswith("__main__"):
            continue
        last = name.rpartition(".")[2]
        short = name.replace(".", "/")
        if (
            not {name, last, short, f"{short}.py", f"{short}/", f"{name.partition('.')[0]}/*"}
            & named
        ):
            missing.append(name)
    assert not missing, f"docs/architecture.md does not say what these modules do: {missing}"


def test_no_module_imports_itself_back_at_import_time() -> None:
    found = modules()
    graph = {name: top_level_imports(name, path, set(found)) for name, path in found.items()}
    cycles = []
    for start in graph:  # a depth-first walk from each module, back to it: small graph
        stack: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
        seen: set[str] = set()
        while stack:
            here, trail = stack.pop()
            for nxt in graph[here]:
                if nxt == start:
                    cycles.append(" -> ".join((*trail, start)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*trail, nxt)))
    assert not cycles, f"modules that import each other at import time: {sorted(set(cycles))[:5]}"


def test_the_import_graph_is_read() -> None:
    """The checks above see the imports they should (a parser that saw none would pass them)."""
    found = modules()
    known = set(found)
    assert "store_index" in top_level_imports("dataset", found["dataset"], known)
    assert "training_log" in top_level_imports("checkpoint", found["checkpoint"], known)
    assert "networks" not in top_level_imports("training", found["training"], known)  # in a def
    assert "cli.app" in top_level_imports("cli.models", found["cli.models"], known)
