"""The Meltano project's own consistency: generated files current, schedules and jobs
naming declared plugins, schedules complete, settings declared, BATCH files readable
by their loaders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from dataops import render
from dataops.check.base import (
    Context,
    Problem,
)
from dataops.meltano_files import (
    dataops_annotations,
    job_steps,
    setting_variable,
)


def generated_files_are_current(ctx: Context) -> Iterator[Problem]:
    for path in render.stale(render.rendered(ctx.meltano, ctx.tree)):
        yield Problem(ctx.rel(path), "out of date with meltano.yml", "run `dataops render`")


def plugins_exist(ctx: Context) -> Iterator[Problem]:
    types = ctx.meltano.plugin_types
    for schedule in ctx.meltano.schedules:
        for role, kind in (("extractor", "extractors"), ("loader", "loaders")):
            name = schedule.value.get(role)
            if name is not None and types.get(name) != kind:
                yield Problem(
                    schedule.where(),
                    f"{role} {name!r} is not a declared {kind[:-1]}",
                    f"declare it under plugins.{kind} or fix the name",
                )
        job = schedule.value.get("job")
        if job is not None and job not in {j.value["name"] for j in ctx.meltano.jobs}:
            yield Problem(schedule.where(), f"job {job!r} does not exist", "add it under jobs")
    for job in ctx.meltano.jobs:
        for step in job_steps(job.value):
            if step.partition(":")[0] not in types:
                yield Problem(job.where(), f"task step {step!r} names no plugin", "declare it")


def batch_format(config: Any) -> str | None:
    """The BATCH file format a tap's `batch_config` (a mapping or its JSON) asks for."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError:
            return None
    encoding = config.get("encoding") if isinstance(config, dict) else None
    return str(encoding.get("format")) if isinstance(encoding, dict) else None


def batch_files_are_readable(ctx: Context) -> Iterator[Problem]:
    """A tap writes BATCH files only in a format its loader reads (the loader's
    `annotations.dataops.batch_formats`): a `batch_config` in a plugin or environment
    config reaches every loader the tap may run with (`meltano run TAP LOADER` too), one
    in a schedule's `env` only that schedule's loader."""
    readable = {
        name: set(dataops_annotations(p.value).get("batch_formats") or [])
        for name, p in ctx.meltano.plugins.items()
        if ctx.meltano.plugin_types[name] == "loaders"
    }
    # A plugin's own config comes with every environment's: each place once.
    configs = {
        config.where(): (plugin, config)
        for environment in ctx.meltano.environments
        for plugin, config in ctx.meltano.configs(environment)
    }
    for plugin, config in configs.values():
        written = batch_format(config.value.get("batch_config"))
        for loader, formats in sorted(readable.items()):
            if written is not None and written not in formats:
                yield Problem(
                    config.where(),
                    f"{plugin} writes {written} BATCH files with every loader, and {loader} "
                    f"reads only {', '.join(sorted(formats)) or 'none'}",
                    "set batch_config in the env of the schedules whose loader reads it",
                )
    for schedule in ctx.meltano.schedules:
        extractor, loader = schedule.value.get("extractor"), schedule.value.get("loader")
        variable = setting_variable(str(extractor), "batch_config")
        written = batch_format((schedule.value.get("env") or {}).get(variable))
        if written is not None and written not in readable.get(str(loader), set()):
            yield Problem(
                schedule.where(),
                f"env {variable} makes {extractor} write {written} BATCH files, which "
                f"{loader} does not read",
                f"use one of {', '.join(sorted(readable.get(str(loader), set()))) or 'none'}, "
                "or no batch_config (records)",
            )


def schedules_are_complete(ctx: Context) -> Iterator[Problem]:
    """Airflow's DAGs need both (dataops schedules export refuses a schedule without)."""
    for schedule in ctx.meltano.schedules:
        for key in ("interval", "start_date"):
            if not schedule.value.get(key):
                yield Problem(schedule.where(), f"no {key}", "add one: Airflow's DAG needs it")


def settings_are_declared(ctx: Context) -> Iterator[Problem]:
    """A config key no setting declares is silently ignored by Meltano's CLI."""
    for environment in [None, *ctx.meltano.environments]:
        for plugin, config in ctx.meltano.configs(environment):
            if plugin not in ctx.meltano.plugins:
                yield Problem(config.where(), f"plugin {plugin!r} is not declared", "declare it")
                continue
            declared = ctx.meltano.declared_settings(plugin)
            for key in config.value:
                if not key.startswith("_") and key not in declared:
                    yield Problem(
                        f"{config.where()}.{key}",
                        f"{plugin} declares no setting {key!r}",
                        "add it to the plugin's settings (with its kind) or remove it",
                    )
