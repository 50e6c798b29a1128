"""The test suite's own rules: code shared by tests lives in one package, `smugfs.testing`; a test
module never imports another module of tests/ (importing a test module runs its fixtures and
collection side effects twice), and tests/ holds only test modules and `conftest.py`."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_test_module_imports_another_module_of_tests() -> None:
    offenders = {
        path.name: sorted(
            name for name in _imported(path) if name == "tests" or name.startswith("tests.")
        )
        for path in sorted(TESTS.glob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_tests_holds_only_test_modules_and_the_fixtures() -> None:
    support = [
        path.name
        for path in sorted(TESTS.glob("*.py"))
        if not path.name.startswith("test_") and path.name not in ("conftest.py", "__init__.py")
    ]
    assert support == [], "shared test code belongs in smugfs.testing"


def test_the_support_package_is_what_tests_import() -> None:
    assert "smugfs.testing.emulator" in _imported(TESTS / "conftest.py")
