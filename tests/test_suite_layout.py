"""The suite's own rule: a test module imports shared code from tests.support or a
package's helpers/factories module, never from another test module or a conftest (pytest
may import those twice, under two names, and their fixtures would run twice)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _is_test_or_conftest(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    offenders: list[str] = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            bad = [n for n in names if n.startswith("tests.") and _is_test_or_conftest(n)]
            if bad:
                offenders.append(f"{path.relative_to(TESTS.parent)}:{node.lineno}: {bad[0]}")
    assert offenders == []
