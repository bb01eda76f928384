from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def documented_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE))


def read_variables() -> set[str]:
    readers = (ROOT / "searchapp" / "settings.py", ROOT / "deploy" / "gunicorn.conf.py")
    text = "\n".join(path.read_text() for path in readers)
    return set(re.findall(r"""(?:environ\.get|env_\w+)\(\s*"([A-Z_]+)\"""", text))


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    # HF_TOKEN and PORT are read by huggingface_hub and the Makefile, not by settings.py.
    assert documented_variables() - {"HF_TOKEN", "PORT"} == read_variables()


def test_readme_names_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()

    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
