from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_declared_dependencies_are_exactly_what_the_code_and_the_tests_import() -> None:
    # deptry reads [tool.deptry] in pyproject.toml: what is imported but undeclared, declared
    # but never imported (tests and benchmarks included), or imported only through another.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("deptry")), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
