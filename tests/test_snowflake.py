"""What can be verified of the Snowflake path without a Snowflake account (the live
test is in live_tests/, run by `make test` when credentials are in the environment):
the installed loaders, their resolved configuration per environment and tap, and the
DDL the installed target-snowflake compiles for the taps' catalogs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dataops import project, secrets
from dataops.render import KubernetesTree

ROOT = project.root()
TAPS = ("tap-zengrc", "tap-edcast", "tap-xactly", "tap-adaptive")
SNOWFLAKE_ENV = {
    "TARGET_SNOWFLAKE_ACCOUNT": "example-org-prod",
    "TARGET_SNOWFLAKE_USER": "MELTANO_LOADER",
    "TARGET_SNOWFLAKE_DATABASE": "RAW",
    "TARGET_SNOWFLAKE_WAREHOUSE": "LOADING",
    "TARGET_SNOWFLAKE_ROLE": "LOADER",
}


def declared_settings(loader: str) -> set[str]:
    text = (ROOT / "meltano" / "loaders.meltano.yml").read_text()
    (plugin,) = [p for p in yaml.safe_load(text)["plugins"]["loaders"] if p["name"] == loader]
    return {setting["name"] for setting in plugin["settings"]}


@pytest.mark.parametrize("loader", ["target-postgres", "target-snowflake"])
def test_installed_loader_knows_every_declared_setting(
    loader: str, isolated: dict[str, str]
) -> None:
    """A declared setting the loader does not know would be silently ignored."""
    about = project.meltano(
        "invoke", loader, "--about", "--format=json", env=isolated, capture=True
    )
    known = set(json.loads(about.stdout)["settings"]["properties"])
    assert declared_settings(loader) <= known, declared_settings(loader) - known


def loader_config(environment: str, tap: str, env: dict[str, str]) -> dict:
    """The config Meltano would hand target-snowflake in a run of `tap`."""
    dumped = project.meltano(
        "--environment",
        environment,
        "el",
        tap,
        "target-snowflake",
        "--dump=loader-config",
        env=env,
        capture=True,
    )
    return json.loads(dumped.stdout)


@pytest.mark.parametrize("tap", TAPS)
def test_production_loads_each_tap_into_its_own_schema(tap: str, isolated: dict[str, str]) -> None:
    env = {**isolated, **SNOWFLAKE_ENV, "TARGET_SNOWFLAKE_PRIVATE_KEY": "-----BEGIN…"}
    config = loader_config("production", tap, env)
    assert config["default_target_schema"] == tap.replace("-", "_")  # TAP_ZENGRC in Snowflake
    assert config["add_record_metadata"] is True
    # Deletions the taps announce (ACTIVATE_VERSION) are soft deletes: the row stays,
    # _sdc_deleted_at set (docs/reliability.md).
    assert config["process_activate_version_messages"] is True
    assert config["hard_delete"] is False
    assert config["load_method"] == "upsert"
    assert config["timestamp_type"] == "TIMESTAMP_TZ"
    assert config["private_key"] == "-----BEGIN…"
    assert "password" not in config  # exactly one auth method reaches the target
    for variable, value in SNOWFLAKE_ENV.items():
        assert config[variable.removeprefix("TARGET_SNOWFLAKE_").lower()] == value


AUTH_SETTINGS = {"password", "private_key", "private_key_path"}


@pytest.mark.parametrize(
    ("environment", "auth"), [("staging", "password"), ("production", "private_key")]
)
def test_a_complete_env_file_resolves_exactly_one_auth_method(
    environment: str,
    auth: str,
    isolated: dict[str, str],
    complete_env_file: Callable[..., Path],
) -> None:
    """What a sync pod gets: every key of the environment's secret templates filled in
    (as `dataops secrets apply` demands), tap-secrets in the pod's environment. Meltano
    maps a variable to a setting by its name too, so a password in production's secret
    would reach the loader beside the key pair, which it refuses."""
    env_file = complete_env_file(environment)
    pod_env = secrets.read_env_file(env_file, KubernetesTree(), environment)["tap-secrets"]
    for tap in TAPS:
        config = loader_config(environment, tap, {**isolated, **pod_env})
        assert AUTH_SETTINGS & set(config) == {auth}, (tap, sorted(config))
        assert config[auth] == f"value-of-target_snowflake_{auth}"


def test_staging_uses_password_auth(isolated: dict[str, str]) -> None:
    env = {**isolated, **SNOWFLAKE_ENV, "TARGET_SNOWFLAKE_PASSWORD": "from-the-secret"}
    config = loader_config("staging", "tap-zengrc", env)
    assert config["password"] == "from-the-secret"
    assert "private_key" not in config


def compiled_ddl(catalog: dict, schema: str) -> dict:
    """DDL compiled by the installed target-snowflake's connector and dialect."""
    python = ROOT / ".meltano" / "loaders" / "target-snowflake" / "venv" / "bin" / "python"
    config = {
        "account": "example-org-prod",
        "user": "MELTANO_LOADER",
        "private_key": "unused",
        "database": "RAW",
        "default_target_schema": schema,
        "timestamp_type": "TIMESTAMP_TZ",
    }
    done = subprocess.run(
        [str(python), str(Path(__file__).with_name("snowflake_ddl.py"))],
        input=json.dumps({"config": config, "catalog": catalog}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("tap", ["tap-zengrc", "tap-adaptive"])  # catalogs known offline
def test_snowflake_ddl_for_the_tap_catalog(tap: str, meltano_env: dict[str, str]) -> None:
    env = {**meltano_env, "TAP_ZENGRC_BASE_URL": "http://127.0.0.1:9/api"}
    env["TAP_ADAPTIVE_URL_BASE"] = env["TAP_ZENGRC_BASE_URL"]
    dumped = project.meltano("invoke", "--dump=catalog", tap, env=env, capture=True)
    catalog = json.loads(dumped.stdout)
    schema = tap.replace("-", "_")
    ddl = compiled_ddl(catalog, schema)
    # Unquoted, so Snowflake folds it to TAP_ZENGRC / TAP_ADAPTIVE as in the original.
    assert ddl["schema_ddl"].strip() == f"CREATE SCHEMA {schema}"
    assert set(ddl["tables"]) == {s["tap_stream_id"] for s in catalog["streams"]}
    for stream in catalog["streams"]:
        types = ddl["tables"][stream["tap_stream_id"]]["types"]
        for name, prop in stream["schema"]["properties"].items():
            kinds = (
                set(prop.get("type", []))
                if isinstance(prop.get("type"), list)
                else {prop.get("type")}
            )
            if kinds & {"object", "array"}:
                assert types[name] == "VARIANT", (stream["tap_stream_id"], name, types[name])
            elif prop.get("format") == "date-time":
                assert types[name] == "TIMESTAMP_TZ", (stream["tap_stream_id"], name)
