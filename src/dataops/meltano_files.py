"""meltano.yml and its include_paths, read as files (no `meltano` call): what the
renderers and checks derive the deployment from.

Every value keeps the file it came from, so a check can say which file to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dataops import project

REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
CLUSTER_ENVIRONMENTS = ("staging", "production")


def is_provided_by_meltano(variable: str) -> bool:
    """Meltano sets these itself (MELTANO_PROJECT_ROOT, MELTANO_EXTRACT__LOAD_SCHEMA…)."""
    return variable.startswith("MELTANO_")


@dataclass(frozen=True)
class Located:
    """A value and where it is: file and dotted key path."""

    value: Any
    file: Path
    """Relative to the project root."""
    key: str

    def where(self) -> str:
        return f"{self.file}: {self.key}"


@dataclass
class MeltanoProject:
    plugins: dict[str, Located] = field(default_factory=dict)
    """Plugin definitions by name (value: the plugin's mapping)."""
    plugin_types: dict[str, str] = field(default_factory=dict)
    schedules: list[Located] = field(default_factory=list)
    jobs: list[Located] = field(default_factory=list)
    environments: dict[str, Located] = field(default_factory=dict)
    default_environment: str = "dev"

    def declared_settings(self, plugin: str) -> set[str]:
        return {s["name"] for s in self.plugins[plugin].value.get("settings", [])}

    def configs(self, environment: str | None = None) -> list[tuple[str, Located]]:
        """(plugin, its config mapping) from the plugin definitions and, when given,
        from the environment's overrides."""
        found = [
            (name, Located(p.value.get("config") or {}, p.file, f"{p.key}.config"))
            for name, p in self.plugins.items()
        ]
        if environment is not None:
            env = self.environments[environment]
            plugins = ((env.value.get("config") or {}).get("plugins")) or {}
            for kind, entries in plugins.items():
                for i, entry in enumerate(entries or []):
                    key = f"{env.key}.config.plugins.{kind}[{i}]({entry['name']}).config"
                    found.append((entry["name"], Located(entry.get("config") or {}, env.file, key)))
        return found

    def variable_uses(self, environment: str) -> Iterator[tuple[str, str, str]]:
        """(plugin, `$VAR`, place) for every `$VAR` the plugins' config uses in
        `environment` (but Meltano's own)."""
        for plugin, config in self.configs(environment):
            for key, value in flatten(config.value):
                for variable in REFERENCE.findall(str(value)):
                    if not is_provided_by_meltano(variable):
                        yield plugin, variable, f"{config.file}: {plugin}.{key}"

    def references(self, environment: str) -> dict[str, list[str]]:
        """Every `$VAR` the plugins' config uses in `environment` (but Meltano's own),
        with the places that use it."""
        used: dict[str, list[str]] = {}
        for _, variable, place in self.variable_uses(environment):
            used.setdefault(variable, []).append(place)
        return used

    def environment_env(self, environment: str) -> dict[str, str]:
        """The `env:` block of an environment (Meltano's own settings for it)."""
        return {
            k: str(v) for k, v in (self.environments[environment].value.get("env") or {}).items()
        }


def setting_variable(plugin: str, setting: str) -> str:
    """The env var Meltano maps to `plugin`'s `setting` (tap-edcast, batch_config →
    TAP_EDCAST_BATCH_CONFIG)."""
    return re.sub(r"[^A-Za-z0-9]", "_", f"{plugin}_{setting}").upper()


def job_steps(job: dict[str, Any]) -> list[str]:
    """The steps of a job's tasks, in order (`tap-x`, `target-y`, `dbt:run`…)."""
    tasks = job.get("tasks", [])
    listed = tasks if isinstance(tasks, list) else [tasks]
    return [step for task in listed for step in str(task).split()]


def dataops_annotations(definition: dict[str, Any]) -> dict[str, Any]:
    """A plugin's or schedule's `annotations.dataops` (empty when it has none)."""
    return dict((definition.get("annotations") or {}).get("dataops") or {})


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaves of a nested mapping as (dotted key, value)."""
    if isinstance(value, dict):
        leaves = []
        for key, inner in value.items():
            leaves += flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return leaves
    return [(prefix, value)]


def load(root: Path | None = None) -> MeltanoProject:
    """Read meltano.yml and every file its include_paths name (of this project unless
    `root` is given)."""
    root = root or project.root()
    main = root / "meltano.yml"
    files = [main]
    top = yaml.safe_load(main.read_text()) or {}
    for pattern in top.get("include_paths", []):
        files += sorted(root.glob(pattern.removeprefix("./")))
    found = MeltanoProject(default_environment=str(top.get("default_environment", "dev")))
    for absolute in files:
        path = absolute.relative_to(root)
        try:
            content = yaml.safe_load(absolute.read_text()) or {}
        except yaml.YAMLError as exc:
            raise SystemExit(f"{path}: not valid YAML ({exc})") from None
        for kind, plugins in (content.get("plugins") or {}).items():
            for i, plugin in enumerate(plugins or []):
                found.plugins[plugin["name"]] = Located(plugin, path, f"plugins.{kind}[{i}]")
                found.plugin_types[plugin["name"]] = kind
        for i, schedule in enumerate(content.get("schedules") or []):
            found.schedules.append(
                Located(schedule, path, f"schedules[{i}]({schedule.get('name')})")
            )
        for i, job in enumerate(content.get("jobs") or []):
            found.jobs.append(Located(job, path, f"jobs[{i}]({job.get('name')})"))
        for i, env in enumerate(content.get("environments") or []):
            found.environments[env["name"]] = Located(
                env, path, f"environments[{i}]({env['name']})"
            )
    return found
