from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_code_type_checks_in_strict_mode() -> None:
    # mypy reads [tool.mypy] in pyproject.toml: the files it checks, django-stubs' plugin and
    # the few untyped libraries.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mypy"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
