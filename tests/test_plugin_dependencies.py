"""Every plugin declares what it imports: Meltano installs each into a venv of its own
from its pyproject.toml, so an import that works here only because the workspace venv
has everything would fail in production's image."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from dataops import project

PLUGINS = sorted(
    path.parent
    for path in (project.root() / "plugins").glob("*/*/pyproject.toml")
    if path.parent.name != "tests"
)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(plugin: Path) -> set[str]:
    """The distributions a plugin's pyproject asks for, with those its extras bring."""
    names = set()
    config = tomllib.loads((plugin / "pyproject.toml").read_text())
    for line in config["project"].get("dependencies", []):
        requirement = Requirement(line)
        names.add(normalized(requirement.name))
        for extra in requirement.extras:
            for needed in importlib.metadata.requires(requirement.name) or []:
                brought = Requirement(needed)
                if brought.marker and brought.marker.evaluate({"extra": extra}):
                    names.add(normalized(brought.name))
    return names


def imported(plugin: Path) -> set[str]:
    """Top-level modules the plugin's package code imports (tests and build files aside)."""
    config = tomllib.loads((plugin / "pyproject.toml").read_text())
    name = normalized(config["project"]["name"])
    modules: set[str] = set()
    for source in plugin.rglob("*.py"):
        if "tests" in source.relative_to(plugin).parts:
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    own = {source.parent.name for source in plugin.glob("*/__init__.py")}
    return {
        module
        for module in modules
        if module not in sys.stdlib_module_names and module not in own and module != name
    }


def providers() -> dict[str, list[str]]:
    """Distributions per top-level module: installed ones, and the workspace's plugins
    (installed editable, which ``packages_distributions`` does not see)."""
    found = dict(importlib.metadata.packages_distributions())
    for plugin in PLUGINS:
        name = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]["name"]
        for package in plugin.glob("*/__init__.py"):
            found.setdefault(package.parent.name, [name])
    return found


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda path: path.name)
def test_a_plugin_declares_every_distribution_it_imports(plugin: Path) -> None:
    providers_of = providers()
    wanted = declared(plugin)
    missing = {
        module: providers_of.get(module, ["(not installed)"])
        for module in imported(plugin)
        if not wanted & {normalized(dist) for dist in providers_of.get(module, [])}
    }
    assert not missing, f"{plugin.name}/pyproject.toml does not declare {missing}"


def test_every_plugin_is_checked() -> None:
    assert {path.name for path in PLUGINS} >= {
        "tap-zengrc",
        "tap-edcast",
        "tap-xactly",
        "tap-adaptive",
        "target-duckdb",
        "tap-kit",
    }
