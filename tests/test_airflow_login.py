"""The Airflow UI's login in the cluster: the FAB auth manager with Google sign-in only
(orchestrate/airflow/webserver_config.py, docs/security.md "Airflow UI login").

Over the rendered overlays: which containers get the auth manager and the OAuth client.
With the real Airflow venv: an API server started with the cluster's settings on a
throwaway SQLite metadata database offers Google sign-in only, sends the browser to
Google with the client id and the domain, writes no password file and prints no
password; the security manager registers only the domain's verified accounts, as
Viewer, never accepts a password, and `airflow users add-role` makes the first admin.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from dataops import project, render
from dataops.check import base, wiring
from dataops.meltano_files import CLUSTER_ENVIRONMENTS
from tests import airflow_venv
from tests.airflow_venv import AIRFLOW_VENV

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
OAUTH_KEYS = {"DATAOPS_AIRFLOW_OAUTH_CLIENT_ID", "DATAOPS_AIRFLOW_OAUTH_CLIENT_SECRET"}
# The Airflow settings of the cluster's ConfigMap the login depends on.
LOGIN_SETTINGS = (
    "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__FAB__CONFIG_FILE",
    "AIRFLOW__FAB__SESSION_MAX_LIFETIME_MINUTES",
)
DOMAIN = "example.org"
CLIENT_ID = "1234-dummy.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-dummy-client-secret-0123456789"
# What SimpleAuthManager prints at each start of the API server.
PRINTED_PASSWORD = re.compile(r"password for user", re.IGNORECASE)

# Run by the Airflow venv's python, with the API server's environment: the FAB app as
# `airflow users …` builds it (webserver_config.py loaded), given ID token claims as
# authlib hands them over once it has checked the token.
SIGN_IN = """
import json, sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
from flask import current_app

alice = json.loads(sys.argv[1])
others = {
    "another domain": {**alice, "hd": "example.com", "email": "mallory@example.com"},
    "a consumer account": {k: v for k, v in alice.items() if k != "hd"},
    "an unverified address": {**alice, "email_verified": False},
    "another issuer": {**alice, "iss": "https://issuer.example"},
    "no ID token": None,
}
seen = {"refused": {}}
with get_application_builder() as appbuilder:
    sm = appbuilder.sm
    seen["security_manager"] = type(sm).__name__
    for name, claims in others.items():
        token = {"access_token": "t"} | ({"userinfo": claims} if claims else {})
        try:
            sm.oauth_user_info("google", token)
        except PermissionError as refusal:
            seen["refused"][name] = str(refusal)
    with current_app.test_request_context():
        user = sm.auth_user_oauth(sm.oauth_user_info("google", {"userinfo": alice}))
    seen["registered"] = {
        "username": user.username,
        "email": user.email,
        "roles": sorted(role.name for role in user.roles),
    }
    # What the UI's "My password" page does; the password must still never work.
    sm.reset_password(user.id, sys.argv[2])
    seen["password_accepted"] = sm.auth_user_db(user.username, sys.argv[2]) is not None
print(json.dumps(seen))
"""
ALICE = {
    "iss": "https://accounts.google.com",
    "sub": "112233445566778899",
    "email": f"alice@{DOMAIN}",
    "email_verified": True,
    "hd": DOMAIN,
    "given_name": "Alice",
    "family_name": "Liddell",
}
ALICE_PASSWORD = "a-password-set-in-my-password"


def rendered(environment: str) -> list[dict[str, Any]]:
    return base.kustomize(render.KubernetesTree().overlay(environment))


def config_map(objects: list[dict[str, Any]], name: str) -> dict[str, str]:
    (found,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
    data: dict[str, str] = found["data"]
    return data


def in_repository(image_path: str, platform: dict[str, str]) -> Path:
    """The repository's file that the image holds at `image_path` (the image's project
    root is DATAOPS_PROJECT_ROOT, a copy of the repository)."""
    return project.root() / PurePosixPath(image_path).relative_to(platform["DATAOPS_PROJECT_ROOT"])


@pytest.mark.parametrize("environment", CLUSTER_ENVIRONMENTS)
def test_every_airflow_component_gets_the_fab_auth_manager_and_its_config_file(
    environment: str,
) -> None:
    objects = rendered(environment)
    platform = config_map(objects, "platform-env")
    assert platform["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER
    assert "DATAOPS_AIRFLOW_LOGIN_DOMAIN" in platform
    # The config file the manifests name is the repository's, and the image build's
    # context lets it in (.dockerignore leaves out everything not let back in).
    config_file = in_repository(platform["AIRFLOW__FAB__CONFIG_FILE"], platform)
    assert config_file == project.root() / "orchestrate" / "airflow" / "webserver_config.py"
    assert config_file.is_file()
    dockerignore = (project.root() / ".dockerignore").read_text().splitlines()
    assert f"!{config_file.relative_to(project.root())}" in dockerignore
    # The browser's address of the UI is the port-forward's: the login page's links and
    # Google's redirect URI are made from it.
    assert platform["AIRFLOW__API__BASE_URL"] == "http://localhost:8080"

    airflow = {
        container["name"]: container
        for _, container, _ in base.containers(environment, objects)
        if container.get("command", [""])[0] == "airflow"
    }
    assert set(airflow) == {"airflow-db-migrate", "scheduler", "dag-processor", "api-server"}
    for name, container in airflow.items():
        maps = {s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s}
        assert "platform-env" in maps, name
        assert not {e["name"] for e in container.get("env", [])} & set(LOGIN_SETTINGS), name


@pytest.mark.parametrize("environment", CLUSTER_ENVIRONMENTS)
def test_only_the_api_server_receives_the_oauth_client(environment: str) -> None:
    objects = rendered(environment)
    templates = wiring.secret_template_keys(render.KubernetesTree(), environment)
    assert templates["airflow"] >= OAUTH_KEYS
    receivers = {}
    for where, container, pod in base.containers(environment, objects):
        received = set().union(*wiring.received_secrets(container, templates, pod).values())
        if received & OAUTH_KEYS:
            receivers[f"{where} {container['name']}"] = received & OAUTH_KEYS
    assert receivers == {
        f"overlay {environment}: Deployment/airflow-api-server api-server": OAUTH_KEYS
    }
    (container,) = [
        c for _, c, _ in base.containers(environment, objects) if c["name"] == "api-server"
    ]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if e["name"] in OAUTH_KEYS
    }
    assert refs == {key: {"name": "airflow", "key": key} for key in OAUTH_KEYS}
    assert wiring.SECRETS_USED["api-server"] >= OAUTH_KEYS
    assert not any(
        OAUTH_KEYS & keys for name, keys in wiring.SECRETS_USED.items() if name != "api-server"
    )


# --- the real API server ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster_env(home: Path, port: int, **settings: str) -> dict[str, str]:
    """This environment without the caller's Airflow/DataOps settings, plus the cluster's
    login settings (platform.env; the config file at its place in the repository), a
    dummy OAuth client and the domain, on a fresh SQLite metadata database."""
    platform = render.platform_env(render.KubernetesTree())
    login = {key: platform[key] for key in LOGIN_SETTINGS}
    login["AIRFLOW__FAB__CONFIG_FILE"] = str(
        in_repository(login["AIRFLOW__FAB__CONFIG_FILE"], platform)
    )
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DATAOPS_"))}
    return {
        **inherited,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        # As in the cluster, the address the browser uses (there: the port-forward's).
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        **login,
        "DATAOPS_AIRFLOW_LOGIN_DOMAIN": DOMAIN,
        "DATAOPS_AIRFLOW_OAUTH_CLIENT_ID": CLIENT_ID,
        "DATAOPS_AIRFLOW_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        **settings,
    }


def airflow(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AIRFLOW_VENV / "airflow"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class ApiServer:
    url: str
    """Its address as the browser uses it."""
    env: dict[str, str]
    home: Path
    output: Path
    """Everything it printed (stdout and stderr)."""


@contextlib.contextmanager
def api_server(work: Path, **settings: str) -> Iterator[ApiServer]:
    """`airflow api-server` on a migrated database in `work`, until the block ends."""
    port = free_port()
    home = work / "home"
    env = cluster_env(home, port, **settings)
    migrated = airflow("db", "migrate", env=env)
    assert migrated.returncode == 0, (migrated.stdout + migrated.stderr)[-3000:]
    output = work / "api-server.log"
    with output.open("w") as out:
        process = subprocess.Popen(
            [str(AIRFLOW_VENV / "airflow"), "api-server", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers with it, stopped as one group
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, output.read_text()[-3000:]
            assert time.monotonic() < deadline, output.read_text()[-3000:]
            with contextlib.suppress(requests.ConnectionError):
                health = requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5)
                if health.status_code == 200:
                    break
            time.sleep(0.5)
        yield ApiServer(f"http://localhost:{port}", env, home, output)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with api_server(tmp_path_factory.mktemp("fab")) as started:
        yield started


def password_files(home: Path) -> list[Path]:
    return sorted(home.rglob("simple_auth_manager_passwords*"))


def assert_no_password_anywhere(server: ApiServer) -> None:
    """No password file in AIRFLOW_HOME; no password, nor the OAuth client's secret,
    in anything the server printed so far (each test checks after its requests: with
    pytest-xdist each worker has its own server)."""
    assert password_files(server.home) == []
    printed = server.output.read_text()
    assert not PRINTED_PASSWORD.search(printed)
    assert CLIENT_SECRET not in printed
    assert ALICE_PASSWORD not in printed


def test_the_login_page_offers_google_sign_in_only(server: ApiServer) -> None:
    page = requests.get(f"{server.url}/auth/login/", timeout=30)
    assert page.status_code == 200
    assert re.findall(r'id="btn-signin-([^"]+)"', page.text) == ["google"]
    assert not re.search(r"(type|name)=[\"']?password", page.text, re.IGNORECASE)
    # Nothing of the API without signing in, and no password gets a token.
    assert requests.get(f"{server.url}/api/v2/dags", timeout=30).status_code == 401
    token = requests.post(
        f"{server.url}/auth/token", json={"username": "admin", "password": "admin"}, timeout=30
    )
    assert token.status_code == 401
    assert_no_password_anywhere(server)


def test_google_sign_in_goes_to_google_with_the_client_id_and_the_domain(
    server: ApiServer,
) -> None:
    started = requests.get(f"{server.url}/auth/login/google", allow_redirects=False, timeout=30)
    assert started.status_code == 302
    location = urlsplit(started.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "accounts.google.com",
        "/o/oauth2/v2/auth",
    )
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["hd"] == DOMAIN
    # The redirect URI to register on the OAuth client: the browser's address of the UI.
    assert query["redirect_uri"] == f"{server.url}/auth/oauth-authorized/google"
    assert query["response_type"] == "code"
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    assert query["code_challenge_method"] == "S256"
    assert {"state", "nonce", "code_challenge"} <= set(query)
    assert CLIENT_SECRET not in started.headers["Location"]
    assert_no_password_anywhere(server)


def test_only_the_domains_verified_accounts_sign_in_as_viewers_and_add_role_makes_an_admin(
    server: ApiServer,
) -> None:
    printed = airflow_venv.python(SIGN_IN, json.dumps(ALICE), ALICE_PASSWORD, env=server.env)
    seen = json.loads(printed.splitlines()[-1])
    assert seen["security_manager"] == "GoogleWorkspaceSecurityManager"
    refusal = f"Google sign-in refused: not a verified account of {DOMAIN}"
    assert seen["refused"] == dict.fromkeys(
        [
            "another domain",
            "a consumer account",
            "an unverified address",
            "another issuer",
            "no ID token",
        ],
        refusal,
    )
    # The first sign-in registers the account with the least role.
    username = f"google_{ALICE['sub']}"
    assert seen["registered"] == {
        "username": username,
        "email": ALICE["email"],
        "roles": ["Viewer"],
    }
    # A password set on the account never signs in, by name or by address.
    assert seen["password_accepted"] is False
    for name in (username, ALICE["email"]):
        token = requests.post(
            f"{server.url}/auth/token",
            json={"username": name, "password": ALICE_PASSWORD},
            timeout=30,
        )
        assert token.status_code == 401

    # The first admin: the runbook's command, run where the API server runs.
    promoted = airflow(
        "users", "add-role", "--email", ALICE["email"], "--role", "Admin", env=server.env
    )
    assert promoted.returncode == 0, (promoted.stdout + promoted.stderr)[-3000:]
    listed = airflow("users", "list", "--output", "json", env=server.env)
    assert listed.returncode == 0, listed.stderr[-3000:]
    (alice,) = json.loads(listed.stdout.splitlines()[-1])
    assert (alice["username"], sorted(alice["roles"])) == (username, ["Admin", "Viewer"])
    assert_no_password_anywhere(server)


def test_the_api_server_writes_no_password_file_and_prints_no_secret(server: ApiServer) -> None:
    assert "Running the API server" in server.output.read_text()
    assert_no_password_anywhere(server)


def test_the_checks_above_catch_the_simple_auth_managers_password(tmp_path: Path) -> None:
    """The same start with Airflow's default auth manager (the issue): the password
    file and the printed password that assert_no_password_anywhere finds absent."""
    simple = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    with api_server(tmp_path, AIRFLOW__CORE__AUTH_MANAGER=simple) as started:
        assert password_files(started.home) != []
        assert PRINTED_PASSWORD.search(started.output.read_text())


def test_the_api_server_refuses_to_start_without_the_domain(server: ApiServer) -> None:
    env = {**server.env, "DATAOPS_AIRFLOW_LOGIN_DOMAIN": ""}
    done = airflow("api-server", "--port", str(free_port()), env=env, timeout=90)
    assert done.returncode != 0
    assert "DATAOPS_AIRFLOW_LOGIN_DOMAIN is not set" in done.stdout + done.stderr
