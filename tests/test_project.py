"""The Meltano project itself, as Meltano resolves it: plugins, settings, schedules."""

from __future__ import annotations

import json
import subprocess
import tomllib
from typing import Any

import pytest
import yaml

from dataops import project

ROOT = project.root()
ENVIRONMENTS = ("dev", "ci", "staging", "production")


def plugin_definitions() -> list[dict]:
    found = []
    for path in sorted((ROOT / "meltano").glob("*.meltano.yml")):
        for plugins in (yaml.safe_load(path.read_text()).get("plugins") or {}).values():
            found.extend(plugins)
    return found


def test_every_plugin_is_declared_inline_without_hub() -> None:
    plugins = plugin_definitions()
    assert {p["name"] for p in plugins} >= {"tap-zengrc", "target-duckdb", "target-snowflake"}
    for plugin in plugins:
        assert "variant" not in plugin, f"{plugin['name']} would need Meltano Hub"
        for key in ("namespace", "pip_url", "executable", "capabilities", "settings"):
            assert plugin.get(key), f"{plugin['name']}: missing {key}"
        for setting in plugin["settings"]:
            assert setting.get("kind"), f"{plugin['name']}.{setting['name']}: no kind"


def test_secrets_are_password_settings_and_env_references() -> None:
    secrets = {"username", "password", "private_key", "private_key_passphrase"}
    for plugin in plugin_definitions():
        for setting in plugin["settings"]:
            if setting["name"] in secrets:
                assert setting["kind"] == "password", f"{plugin['name']}.{setting['name']}"
    for env in ("staging", "production"):
        text = (ROOT / "meltano" / "environments" / f"{env}.meltano.yml").read_text()
        config = yaml.safe_load(text)["environments"][0]["config"]["plugins"]
        for plugins in config.values():
            for plugin in plugins:
                for name, value in plugin.get("config", {}).items():
                    assert str(value).startswith("$"), f"{env}: {plugin['name']}.{name}={value}"


def configured_plugins(environment: str) -> list[tuple[str, dict[str, Any]]]:
    """(plugin, its config) for each plugin the environment's file configures."""
    text = (ROOT / "meltano" / "environments" / f"{environment}.meltano.yml").read_text()
    plugins = yaml.safe_load(text)["environments"][0]["config"]["plugins"]
    return [(p["name"], p["config"]) for kind in plugins.values() for p in kind]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_resolves_each_value_it_sets(
    environment: str, isolated: dict[str, str]
) -> None:
    """Meltano resolves every setting an environment configures to what the file says:
    the literal, or the value of the variable it names (set here to a sentinel)."""
    for plugin, config in configured_plugins(environment):
        referenced = {key: value[1:] for key, value in config.items() if str(value).startswith("$")}
        sentinels = {variable: f"sentinel-{variable.lower()}" for variable in referenced.values()}
        resolved = json.loads(
            project.meltano(
                "--environment",
                environment,
                "config",
                "--unsafe",  # secrets too: the test's own sentinels
                "print",
                plugin,
                capture=True,
                env={**isolated, **sentinels},
            ).stdout
        )
        expected = {
            key: sentinels[referenced[key]] if key in referenced else value
            for key, value in config.items()
        }
        assert {key: resolved.get(key) for key in config} == expected, (environment, plugin)


PRODUCTION_SCHEDULES = {
    "zengrc-to-snowflake": ("tap-zengrc", "0 */8 * * *"),
    "edcast-to-snowflake": ("tap-edcast", "0 7 * * *"),
    "xactly-to-snowflake": ("tap-xactly", "0 0,5 * * *"),
    "adaptive-to-snowflake": ("tap-adaptive", "0 4 * * *"),
}


@pytest.mark.parametrize("name", sorted(PRODUCTION_SCHEDULES))
def test_production_schedule_and_its_local_twin(name: str, isolated: dict[str, str]) -> None:
    by_name = {s.name: s for s in project.schedules(isolated)}
    extractor, interval = PRODUCTION_SCHEDULES[name]
    production = by_name[name]
    assert (production.extractor, production.loader, production.interval) == (
        extractor,
        "target-snowflake",
        interval,
    )
    local = by_name[name.replace("-to-snowflake", "-to-duckdb")]
    assert (local.extractor, local.loader, local.interval) == (extractor, "target-duckdb", interval)
    assert local in project.local_schedules(isolated)


def test_every_plugin_test_folder_runs() -> None:
    """A plugin's tests/ left out of pytest's testpaths would silently never run."""
    configured = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    testpaths = set(configured["ini_options"]["testpaths"])
    folders = {str(path.relative_to(ROOT)) for path in ROOT.glob("plugins/*/*/tests")}
    assert folders <= testpaths


def test_select_rules_drop_vendor_personal_data(isolated: dict[str, str]) -> None:
    listing = project.meltano(
        "select", "tap-zengrc", "--list", "--all", capture=True, env=isolated
    ).stdout
    assert "[excluded   ] vendors.owners" in listing
    assert "[excluded   ] vendors.contact" in listing
    assert "[selected   ] vendors.secondary_contact" in listing


def test_dev_writes_the_local_warehouse(isolated: dict[str, str]) -> None:
    resolved = project.meltano(
        "--environment",
        "dev",
        "config",
        "print",
        "target-duckdb",
        capture=True,
        env=isolated,
    ).stdout
    assert json.loads(resolved)["path"] == str(ROOT / "output" / "warehouse.duckdb")


def test_plugin_constraints_match_the_lock_file() -> None:
    exported = subprocess.run(
        [
            str(ROOT / ".tools" / "bin" / "uv"),
            "export",
            "--frozen",
            "--no-hashes",
            "--no-emit-workspace",
            "--all-packages",
            "--no-annotate",
            "--no-header",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pinned = (ROOT / "plugins" / "constraints.txt").read_text()
    assert exported == pinned, "plugins/constraints.txt is stale: run `make constraints`"


def test_third_party_loaders_are_pinned_with_their_dependencies() -> None:
    """A loader's pip_url pin and its constraints file (`make constraints`) agree."""
    text = (ROOT / "meltano" / "loaders.meltano.yml").read_text()
    for loader in yaml.safe_load(text)["plugins"]["loaders"]:
        constraints = ROOT / "plugins" / "loaders" / f"{loader['name']}.constraints.txt"
        if not constraints.exists():
            continue  # this project's own loader, pinned through uv.lock
        requirement, option, path = loader["pip_url"].split()
        assert "==" in requirement, f"{loader['name']}: pip_url is not pinned"
        assert (option, path) == ("-c", f"./{constraints.relative_to(ROOT)}")
        assert requirement in constraints.read_text().splitlines(), (
            f"{constraints.name} does not pin {requirement}: update LOADER_PINS in the "
            "Makefile and run `make constraints`"
        )
