"""The Meltano project itself, as Meltano resolves it: plugins, settings, schedules."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
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
        assert requirement in pins(constraints), (
            f"{constraints.name} does not pin {requirement}: update LOADER_PINS in the "
            "Makefile and run `make constraints`"
        )


CONSTRAINTS = sorted((ROOT / "plugins").glob("**/*constraints.txt"))


def pins(constraints: Path) -> dict[str, list[str]]:
    """Each `name==version` of a constraints file and the hashes it allows."""
    found: dict[str, list[str]] = {}
    for entry in constraints.read_text().replace("\\\n", " ").splitlines():
        words = entry.split("#", 1)[0].split()
        if words:
            found[words[0]] = [w.removeprefix("--hash=") for w in words if w.startswith("--hash=")]
    return found


def test_plugin_venvs_are_installed_by_uv() -> None:
    """uv checks hashes in constraints files; pip would ignore them."""
    assert yaml.safe_load((ROOT / "meltano.yml").read_text())["venv"] == {"backend": "uv"}


@pytest.mark.parametrize("constraints", CONSTRAINTS, ids=lambda p: p.name)
def test_every_plugin_pin_carries_its_hashes(constraints: Path) -> None:
    found = pins(constraints)
    assert len(found) > 20, constraints
    for pin, hashes in found.items():
        assert "==" in pin, f"{constraints.name}: {pin} is not pinned"
        assert hashes, f"{constraints.name}: {pin} has no hash: run `make constraints`"
        assert all(h.startswith("sha256:") and len(h) == 71 for h in hashes), pin


def test_uv_itself_is_installed_by_its_hashes() -> None:
    """The Makefile bootstraps uv with pip from uv.requirements.txt, hashes required,
    at the version the Makefile (and the Dockerfile's uv stage) name."""
    makefile = (ROOT / "Makefile").read_text()
    version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert version, "UV_VERSION not found in the Makefile"
    [(pin, hashes)] = pins(ROOT / "uv.requirements.txt").items()
    assert pin == f"uv=={version.group(1)}", "uv.requirements.txt is stale: run `make constraints`"
    assert len(hashes) > 5  # the wheel of each platform, and the sdist
    assert "--require-hashes --no-deps -r uv.requirements.txt" in makefile


def test_a_package_whose_hash_is_not_pinned_is_not_installed(tmp_path: Path) -> None:
    """What Meltano runs to fill a plugin venv (`uv pip install ARGS -c CONSTRAINTS`)
    refuses a download whose hash the constraints do not list."""
    uv = str(ROOT / ".venv" / "bin" / "uv")  # the uv Meltano finds (its `uv` package)
    subprocess.run([uv, "venv", "-q", str(tmp_path / "venv")], check=True)
    python = f"--python={tmp_path / 'venv' / 'bin' / 'python'}"
    pinned = ROOT / "plugins" / "constraints.txt"
    [(pin, hashes)] = [(p, h) for p, h in pins(pinned).items() if p.startswith("annotated-types==")]
    tampered = tmp_path / "constraints.txt"
    text = pinned.read_text()
    for good in hashes:
        text = text.replace(good, "sha256:" + "0" * 64)
    tampered.write_text(text)
    install = [uv, "pip", "install", "-q", python, pin.split("==")[0]]
    refused = subprocess.run([*install, "-c", str(tampered)], capture_output=True, text=True)
    assert refused.returncode != 0
    assert "Hash mismatch" in refused.stderr, refused.stderr
    subprocess.run([*install, "-c", str(pinned)], check=True)
