"""`dataops check`: everything that must hold before the platform ships, offline.

Each check returns problems that say which file and key to fix and how. Together they
replace the runbook's "a name missed in one place fails only at run time": every
`$VAR` meltano.yml uses in the cluster reaches the sync pods of the schedules that use
it and has a key in a secret template; no container receives a secret it does not use;
schedules and jobs name existing plugins; every configured setting is declared; no
secret value sits in plain text; the manifests validate against the Kubernetes
schemas; Terraform is formatted; checkov finds nothing that is not explained in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from dataops.check import plugins, tools, wiring
from dataops.check.base import Context, Problem, context

CHECKS: dict[str, Callable[[Context], Iterator[Problem]]] = {
    "generated files current": plugins.generated_files_are_current,
    "every $VAR wired and in a secret template": wiring.variables_are_wired,
    "no container receives a secret it does not use": wiring.no_secret_goes_unused,
    "every secret reference in a template": wiring.secret_references_exist,
    "schedules and jobs name declared plugins": plugins.plugins_exist,
    "every schedule has an interval and a start_date": plugins.schedules_are_complete,
    "every BATCH file readable by its loader": plugins.batch_files_are_readable,
    "every configured setting declared": plugins.settings_are_declared,
    "no secret in plain text": wiring.secrets_not_in_plain_text,
    "manifests valid (strict schemas)": tools.manifests_are_valid,
    "Terraform formatted": tools.terraform_is_formatted,
    "checkov": tools.checkov_finds_nothing,
}


def run(ctx: Context | None = None) -> dict[str, list[Problem]]:
    """Every check's problems, by check name (on this project unless `ctx` is given)."""
    ctx = ctx or context()
    return {name: list(check(ctx)) for name, check in CHECKS.items()}
