from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from embeddings import conf as embeddings_conf
from embeddings.conf import Setting
from searchapp import conf as searchapp_conf

ROOT = Path(__file__).resolve().parent.parent


DECLARED: tuple[Setting[Any], ...] = (*embeddings_conf.SETTINGS, *searchapp_conf.SETTINGS)


def settings_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Settings", 1)[1].split("\n## ", 1)[0]


def documented_variables() -> set[str]:
    return set(re.findall(r"^\| `([A-Z_]+)` \|", settings_section(), flags=re.MULTILINE))


def read_variables() -> set[str]:
    readers = (ROOT / "searchapp" / "settings.py", ROOT / "deploy" / "gunicorn.conf.py")
    text = "\n".join(path.read_text() for path in readers)
    project = set(re.findall(r"""(?:environ\.get|env_\w+)\(\s*"([A-Z_]+)\"""", text))
    return project | {setting.name for setting in DECLARED}


def readme_row(setting: Setting[Any]) -> str:
    default = setting.default
    if isinstance(default, bool):
        shown = "true" if default else "false"
    elif isinstance(default, tuple):
        shown = ",".join(default)
    elif isinstance(default, float):
        shown = f"{default:g}"
    else:
        shown = str(default)
    return f"| `{setting.name}` | {setting.shown_default or f'`{shown}`'} | {setting.meaning} |"


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    # HF_TOKEN and PORT are read by huggingface_hub and the Makefile, not by settings.py.
    assert documented_variables() - {"HF_TOKEN", "PORT"} == read_variables()


def test_the_readme_lists_the_apps_settings_as_they_are_declared() -> None:
    # The declarations in embeddings/conf.py and searchapp/conf.py are the source: on a
    # difference, the expected rows below replace the README's.
    names = {setting.name for setting in DECLARED}
    documented = [
        row
        for row in settings_section().splitlines()
        if (found := re.match(r"^\| `([A-Z_]+)` \|", row)) and found.group(1) in names
    ]

    expected = [readme_row(setting) for setting in DECLARED]
    assert documented == expected, "\n".join(expected)


def test_readme_names_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    ci_commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]

    assert re.findall(r"```sh\n(.*?)\n```", setup, re.DOTALL) == ["make run", "make test-all"]
    assert ci_commands == ["make test-all"]
