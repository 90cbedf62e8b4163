"""The Airflow UI's login in the cluster: FAB auth manager, Google sign-in only.

Airflow's FAB auth manager reads this file (`[fab] config_file`, which the cluster's
ConfigMap platform-env sets to /project/orchestrate/airflow/webserver_config.py) when
the API server starts, and for `airflow users …` commands. Locally, `dataops airflow`
keeps Airflow's default SimpleAuthManager and never reads it.

- Sign-in is through Google (OpenID Connect, authorization code with PKCE) only: no
  password form, and the password check behind `POST /auth/token` refuses everyone.
- Only verified accounts of the organisation's Google Workspace domain
  (DATAOPS_AIRFLOW_LOGIN_DOMAIN) get in. The `hd` parameter sent to Google only
  pre-selects the account; the `hd` claim of the ID token (authlib has checked its
  signature against Google's keys, its audience, expiry and nonce) is what decides.
- A first sign-in registers the account as Viewer. Roles are not recomputed at later
  sign-ins, so a promotion (`airflow users add-role --email … --role Admin`,
  docs/runbook.md) stays.

Environment: DATAOPS_AIRFLOW_LOGIN_DOMAIN (ConfigMap), DATAOPS_AIRFLOW_OAUTH_CLIENT_ID and
DATAOPS_AIRFLOW_OAUTH_CLIENT_SECRET (secret `airflow`, the API server's container
only). Without any of them the API server refuses to start, naming the one missing.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.providers.fab.auth_manager.security_manager.override import (
    FabAirflowSecurityManagerOverride,
)
from flask_appbuilder.const import AUTH_OAUTH


def required(variable: str) -> str:
    value = os.environ.get(variable, "").strip()
    if not value:
        raise RuntimeError(
            f"{variable} is not set: the Airflow UI's Google sign-in needs it "
            "(docs/runbook.md, 'Airflow UI login')"
        )
    return value


LOGIN_DOMAIN = required("DATAOPS_AIRFLOW_LOGIN_DOMAIN").lower()
# The two spellings of Google's issuer that its ID tokens carry.
GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})


class GoogleWorkspaceSecurityManager(FabAirflowSecurityManagerOverride):
    """FAB's security manager, signing in only verified accounts of LOGIN_DOMAIN and
    never by password."""

    def get_oauth_user_info(self, provider: str, resp: dict[str, Any]) -> dict[str, Any]:
        # authlib puts the verified ID token's claims under "userinfo".
        claims = resp.get("userinfo") or {}
        if (
            claims.get("iss") not in GOOGLE_ISSUERS
            or claims.get("hd") != LOGIN_DOMAIN
            or claims.get("email_verified") is not True
        ):
            # FAB logs this message and shows the login page again.
            raise PermissionError(
                f"Google sign-in refused: not a verified account of {LOGIN_DOMAIN}"
            )
        return {
            # Google's stable account id: a renamed address keeps its user and roles.
            "username": f"google_{claims['sub']}",
            "email": claims["email"],
            "first_name": claims.get("given_name", ""),
            "last_name": claims.get("family_name", ""),
        }

    def auth_user_db(self, username: str, password: str, rotate_session_id: bool = True) -> None:
        """No password sign-in (`POST /auth/token`), even with a password set in the
        UI's "My password": every user signs in through Google."""


SECURITY_MANAGER_CLASS = GoogleWorkspaceSecurityManager
AUTH_TYPE = AUTH_OAUTH
AUTH_USER_REGISTRATION = True
AUTH_USER_REGISTRATION_ROLE = "Viewer"
AUTH_ROLES_SYNC_AT_LOGIN = False
OAUTH_PROVIDERS = [
    {
        "name": "google",
        "icon": "fa-google",
        "token_key": "access_token",
        "remote_app": {
            "client_id": required("DATAOPS_AIRFLOW_OAUTH_CLIENT_ID"),
            "client_secret": required("DATAOPS_AIRFLOW_OAUTH_CLIENT_SECRET"),
            # Google's OpenID Connect endpoints, written out rather than discovered
            # (https://accounts.google.com/.well-known/openid-configuration lists them).
            "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
            "access_token_url": "https://oauth2.googleapis.com/token",
            "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
            "id_token_signing_alg_values_supported": ["RS256"],
            "client_kwargs": {"scope": "openid email profile", "code_challenge_method": "S256"},
            "authorize_params": {"hd": LOGIN_DOMAIN},
        },
    }
]
