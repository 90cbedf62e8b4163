"""The Meltano project as this package sees it: where it is and how to call Meltano."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "MELTANO_PROJECT_ROOT"


class ProjectNotFound(RuntimeError):
    """Neither MELTANO_PROJECT_ROOT nor the working directory leads to a meltano.yml."""


def root() -> Path:
    """The Meltano project `dataops` works on, found as Meltano finds it:
    MELTANO_PROJECT_ROOT (which `dataops --project-root` sets) if given, else the
    nearest directory from the working directory upwards that holds a meltano.yml."""
    given = os.environ.get(ROOT_ENV)
    if given:
        chosen = Path(given).resolve()
        if not (chosen / "meltano.yml").is_file():
            raise ProjectNotFound(
                f"{ROOT_ENV} (or --project-root) is {given}, which holds no meltano.yml: "
                "point it at the project's directory"
            )
        return chosen
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / "meltano.yml").is_file():
            return directory
    raise ProjectNotFound(
        f"no meltano.yml in {here} or any directory above it: run dataops inside the "
        f"project, or give --project-root (or {ROOT_ENV})"
    )


def warehouse() -> Path:
    """The local DuckDB warehouse of the demo."""
    return root() / "output" / "warehouse.duckdb"


def demo_database_uri(warehouse_file: Path | None = None) -> str:
    """Meltano's system database of the demo: beside its warehouse, so that removing
    output/ resets both (unless MELTANO_DATABASE_URI says otherwise)."""
    return f"sqlite:///{(warehouse_file or warehouse()).with_suffix('.meltano.db')}"


LOCAL_LOADER = "target-duckdb"


def meltano_executable() -> str:
    """Meltano from this venv (it sits beside the running Python)."""
    return str(Path(sys.executable).with_name("meltano"))


class MeltanoError(RuntimeError):
    """A `meltano` command failed; the message ends with what it printed last."""


def meltano(
    *args: str,
    env: dict[str, str] | None = None,
    capture: bool = False,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `meltano ARGS…` in the project root, with `env` added to this environment."""
    full_env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})}
    done = subprocess.run(
        [meltano_executable(), *args],
        cwd=root(),
        env=full_env,
        text=True,
        capture_output=capture,
        check=False,
    )
    if check and done.returncode != 0:
        said = (done.stderr or "")[-3000:]
        raise MeltanoError(f"`meltano {' '.join(args)}` exited {done.returncode}\n{said}")
    return done


# Where `meltano install` puts plugin venvs, by plugin type, under .meltano/.
PLUGIN_DIRS = ("extractors", "loaders", "mappers", "orchestrators", "transformers", "utilities")


def isolated_env(workdir: Path) -> dict[str, str]:
    """Env for Meltano runs that share nothing mutable with other runs.

    Meltano keeps per-run files (catalogs, the tap's state file) in `.meltano/run/`
    and its system database in `.meltano/`: parallel runs of one project would trip
    over each other. This gives them their own system directory and database, with
    the project's installed plugin venvs linked in.
    """
    sys_dir = workdir / ".meltano"
    sys_dir.mkdir(parents=True, exist_ok=True)
    for kind in PLUGIN_DIRS:
        installed = root() / ".meltano" / kind
        if installed.is_dir() and not (sys_dir / kind).exists():
            (sys_dir / kind).symlink_to(installed, target_is_directory=True)
    return {
        "MELTANO_SYS_DIR_ROOT": str(sys_dir),
        "MELTANO_DATABASE_URI": f"sqlite:///{sys_dir / 'meltano.db'}",
    }


@dataclass(frozen=True)
class Schedule:
    name: str
    extractor: str
    loader: str
    interval: str


def schedules(env: dict[str, str] | None = None) -> list[Schedule]:
    """Every ELT schedule declared in meltano.yml (as Meltano itself resolves them)."""
    listing = meltano("schedule", "list", "--format=json", env=env, capture=True)
    return [
        Schedule(s["name"], s["extractor"], s["loader"], s["interval"])
        for s in json.loads(listing.stdout)["schedules"]["elt"]
    ]


def local_schedules(env: dict[str, str] | None = None) -> list[Schedule]:
    """The schedules that load into the local DuckDB warehouse."""
    return [s for s in schedules(env) if s.loader == LOCAL_LOADER]
