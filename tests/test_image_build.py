"""The image without a Docker engine (deploy/docker/README.md).

deploy/docker/build-project.sh, the image's build steps, runs on a clean copy of the
build context (the files git knows, filtered by .dockerignore as `docker build` does),
then the built project is used the way the image uses it: on a read-only root
filesystem with only the writable mounts the Kubernetes manifests provide, with the
Dockerfile's own environment. The Dockerfile itself is parsed (checkov reads it inside
`dataops check`).

The build takes a minute or two, so it runs once, in one test: split into several
tests sharing a fixture, pytest-xdist could run it on both workers. The read-only root
is a mount namespace (unshare), which needs root, as CI and the developers have here;
the JVM check needs Java 17, which the project needs anyway.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.specifiers import SpecifierSet

from dataops import project
from dataops.sandbox import serve
from dataops.testing import verify

ROOT = project.root()
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
BUILD_SCRIPT = "deploy/docker/build-project.sh"
SMOKE_TEST = "deploy/docker/smoke-test.sh"
UV = ROOT / ".tools" / "bin" / "uv"

# The runtime contract (deploy/docker/README.md): the only writable paths in a pod.
IMAGE_PROJECT = "/project"
WRITABLE = ("/tmp", "/project/.meltano/run", "/opt/airflow")
# What the python base image sets; the Dockerfile's PATH extends its PATH.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_ENV = {"PATH": BASE_PATH, "LANG": "C.UTF-8"}

# Must never reach an image, wherever they lie in the tree.
FORBIDDEN = re.compile(
    r"(\.jar|\.env|\.pem|\.key|\.p8|\.p12|\.pfx|\.tfstate(\..*)?|credentials[^/]*\.json)$"
)
PLANTED = (
    "driver.jar",
    "plugins/extractors/tap-xactly/lib/xactly-connect.jar",
    "src/dataops/h2.jar",
    ".env",
    "meltano/environments/production.env",
    "src/dataops/snowflake_key.p8",
    "plugins/loaders/rsa_key.pem",
    "orchestrate/airflow/dags/gcp-credentials.json",
    "deploy/terraform/terraform.tfstate",
)

SEED = 4
DESELECTED = {"vendors": frozenset({"owners", "contact"})}


# --------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines, also inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        found.append(Instruction(keyword.upper(), " ".join(args.split())))
        pending = ""
    return found


@dataclass(frozen=True)
class Stage:
    image: str
    instructions: list[Instruction]  # after its FROM

    def args(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def stages() -> dict[str, Stage]:
    """The Dockerfile's stages by name, in order."""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in instructions(DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            assert len(words) == 3, f"FROM without a stage name: {instruction}"
            assert words[1].upper() == "AS", f"FROM without a stage name: {instruction}"
            current = found[words[2]] = Stage(words[0], [])
        else:
            assert current, f"{instruction} before the first FROM"
            current.instructions.append(instruction)
    return found


def env_of(stage: Stage) -> dict[str, str]:
    """The ENV a stage sets (KEY=VALUE form)."""
    env: dict[str, str] = {}
    for args in stage.args("ENV"):
        for pair in shlex.split(args):
            key, sep, value = pair.partition("=")
            assert sep, f"ENV not in KEY=VALUE form: {args}"
            env[key] = value
    return env


def makefile_uv_version() -> str:
    match = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "UV_VERSION not found in the Makefile"
    return match.group(1)


def requires_python(pyproject: Path) -> SpecifierSet:
    return SpecifierSet(tomllib.loads(pyproject.read_text())["project"]["requires-python"])


def test_dockerfile_pins_its_bases_builds_with_the_script_and_runs_as_non_root() -> None:
    by_name = stages()
    assert list(by_name) == ["uv", "build", "runtime"]
    # By tag, and by digest once `dataops pin-images` has run (src/dataops/pin_images.py).
    images = {name: stage.image.split("@")[0] for name, stage in by_name.items()}
    for name, image in images.items():
        _, colon, tag = image.rpartition(":")
        assert colon, f"stage {name}: {image} has no tag"
        assert "/" not in tag, f"stage {name}: {image} has no tag"
        assert re.match(r"\d+\.\d+\.\d+", tag), f"stage {name}: {image} is not an exact version"
    assert images["build"] == images["runtime"], "the venvs built in `build` run in `runtime`"
    assert images["uv"] == f"ghcr.io/astral-sh/uv:{makefile_uv_version()}"
    python = re.match(r"python:(\d+\.\d+\.\d+)-slim-bookworm$", images["runtime"])
    assert python, images["runtime"]
    for pyproject in (ROOT / "pyproject.toml", ROOT / "orchestrate/airflow/pyproject.toml"):
        assert python.group(1) in requires_python(pyproject), pyproject

    for stage in by_name.values():
        for instruction in stage.instructions:
            if instruction.keyword == "ADD":
                assert "://" not in instruction.args, f"a remote ADD: {instruction}"
                assert "git@" not in instruction.args, f"a remote ADD: {instruction}"
            if instruction.keyword in ("ADD", "COPY"):
                assert ".jar" not in instruction.args, f"a jar in the image: {instruction}"
            if instruction.keyword == "COPY" and "--from=" in instruction.args:
                source = re.search(r"--from=(\S+)", instruction.args)
                assert source, instruction
                assert source.group(1) in images, f"COPY from an image not pinned: {instruction}"

    build, runtime = by_name["build"], by_name["runtime"]
    assert any(f"sh {BUILD_SCRIPT} {IMAGE_PROJECT}" in run for run in build.args("RUN"))
    assert f"--from=build {IMAGE_PROJECT} {IMAGE_PROJECT}" in runtime.args("COPY")
    assert any(re.search(r"openjdk-17-jre-headless=\S", run) for run in runtime.args("RUN")), (
        "the JRE is not pinned to a version"
    )

    users = runtime.args("USER")
    assert users, "the runtime stage sets no USER"
    for number in users[-1].split(":"):
        assert number.isdigit(), f"USER {users[-1]}: not a numeric uid:gid"
        assert int(number) != 0, f"USER {users[-1]}: root"
    assert runtime.args("WORKDIR")[-1] == IMAGE_PROJECT

    env = env_of(runtime)
    assert env["PATH"].split(":")[:2] == [
        f"{IMAGE_PROJECT}/.venv/bin",
        f"{IMAGE_PROJECT}/orchestrate/airflow/.venv/bin",
    ]
    assert env["MELTANO_PROJECT_ROOT"] == IMAGE_PROJECT
    assert env["PYTHONUNBUFFERED"] == "1"
    # Whatever Meltano and Airflow write lands on a writable mount, and the image
    # creates the mount points that the base image lacks.
    assert env["HOME"] in WRITABLE
    assert env["AIRFLOW_HOME"] in WRITABLE
    created = " ".join(runtime.args("RUN"))
    for path in WRITABLE:
        assert path == "/tmp" or path in created, f"no mount point {path} in the image"


# ------------------------------------------------------------------ build context


# .dockerignore's wildcards (escaped by re.escape) as regular expressions: `*` and `?`
# stay within one path segment, `**` spans any number of them.
WILDCARDS = {r"\*\*/": "(.*/)?", r"\*\*": ".*", r"\*": "[^/]*", r"\?": "[^/]"}


def ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """/.dockerignore as (exception?, regex), in order; `!` lets a path back in."""
    wildcard = re.compile("|".join(re.escape(w) for w in WILDCARDS))
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern = re.escape(line.removeprefix("!").strip("/"))
        regex = wildcard.sub(lambda m: WILDCARDS[m.group()], pattern)
        rules.append((line.startswith("!"), re.compile(regex + r"\Z")))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether `docker build` sends `path`: the last rule matching it, or one of its
    folders, decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    sent = True
    for exception, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            sent = exception
    return sent


def context_files() -> list[str]:
    """What `docker build .` would send: the working tree's files (tracked, or new and
    not git-ignored) that .dockerignore lets through."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    rules = ignore_patterns()
    return sorted(p for p in listed if p and (ROOT / p).is_file() and in_context(p, rules))


def test_context_leaves_out_jars_keys_and_env_files() -> None:
    files = context_files()
    assert not [p for p in files if FORBIDDEN.search(p)]
    assert {BUILD_SCRIPT, SMOKE_TEST, "uv.lock", "meltano.yml"} <= set(files)
    assert not [p for p in files if p.startswith(("tests/", ".meltano/", "output/", "docs/"))]
    # Dropped anywhere in the tree (the vendor's jar next to its tap, a key, an env
    # file), they would still stay out of the image.
    rules = ignore_patterns()
    assert all(FORBIDDEN.search(p) for p in PLANTED)
    assert not [p for p in PLANTED if in_context(p, rules)]


# ------------------------------------------------------ the build and its runtime


def declared_plugins() -> dict[str, dict[str, dict[str, Any]]]:
    """kind ("extractors", "loaders") -> name -> declaration, read from meltano.yml and
    the files it includes (not through Meltano, which the build is testing)."""
    plugins: dict[str, dict[str, dict[str, Any]]] = {"extractors": {}, "loaders": {}}
    main = yaml.safe_load((ROOT / "meltano.yml").read_text())
    files = [p for pattern in main["include_paths"] for p in sorted(ROOT.glob(pattern))]
    for part in [main, *(yaml.safe_load(p.read_text()) for p in files)]:
        for kind, entries in plugins.items():
            for plugin in (part.get("plugins") or {}).get(kind, []):
                entries[plugin["name"]] = plugin
    return plugins


def executable(built: Built, kind: str, name: str) -> Path:
    """Where `meltano install` put a plugin's executable."""
    declared = declared_plugins()[kind][name]
    venv_bin = built.image.project / ".meltano" / kind / name / "venv" / "bin"
    return venv_bin / declared.get("executable", name)


def declared_schedules() -> set[str]:
    text = (ROOT / "meltano" / "schedules.meltano.yml").read_text()
    return {s["name"] for s in yaml.safe_load(text)["schedules"]}


# Run in a mount namespace of its own: PROJECT read-only (even where /tmp, which holds
# it, is a mount of its own), then the N writable folders, then the whole root
# read-only, then the command.
READ_ONLY_ROOT = """
set -e
project=$1 n=$2
shift 2
mount --bind "$project" "$project"
mount -o remount,bind,ro "$project"
while [ "$n" -gt 0 ]; do
    mount --bind "$1" "$1"
    mount -o remount,bind,rw "$1"  # a bind inside the read-only project starts read-only
    shift
    n=$((n - 1))
done
mount -o remount,bind,ro /
exec "$@"
"""


class Image:
    """The built copy, with the image's paths mapped onto it and a scratch folder
    standing in for each writable mount."""

    def __init__(self, built: Path, scratch: Path) -> None:
        self.project = built
        self.mounts = {IMAGE_PROJECT: built}
        for path in WRITABLE:
            if path.startswith(IMAGE_PROJECT + "/"):
                host = built / path.removeprefix(IMAGE_PROJECT + "/")
            else:
                host = scratch / path.strip("/").replace("/", "-")
            host.mkdir(parents=True, exist_ok=True)
            self.mounts[path] = host
        image_env = BASE_ENV | env_of(stages()["runtime"])
        self.env = {
            key: self.path(value.replace("$PATH", BASE_PATH)) for key, value in image_env.items()
        }
        # The pod's /tmp, which this machine's /tmp cannot be (it holds the copy).
        self.env["TMPDIR"] = str(self.mounts["/tmp"])

    def path(self, value: str) -> str:
        """`value` (a path or a PATH-like list) with the image's paths mapped here;
        the longest matching mount wins."""
        mapped = []
        for item in value.split(":"):
            for image_path in sorted(self.mounts, key=len, reverse=True):
                if item == image_path or item.startswith(image_path + "/"):
                    item = str(self.mounts[image_path]) + item[len(image_path) :]
                    break
            mapped.append(item)
        return ":".join(mapped)

    def run(self, command: list[str], env: Mapping[str, str] | None = None) -> str:
        """Run `command` in the project as in a pod: the root filesystem read-only (a
        mount namespace of its own) but for the writable mounts, the image's env."""
        writable = [str(self.mounts[path]) for path in WRITABLE]
        done = subprocess.run(
            [
                *("unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_ROOT),
                *("sh", str(self.project), str(len(writable)), *writable, *command),
            ],
            cwd=self.project,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, (
            f"{shlex.join(command)} exited {done.returncode} on a read-only root "
            f"(needs root for its mount namespace):\n{done.stderr[-4000:]}"
        )
        return done.stdout


def build_context_copy(destination: Path) -> None:
    for path in context_files():
        (destination / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, destination / path)


def clean_env() -> dict[str, str]:
    """This environment without the dev checkout's venv and Meltano/uv settings."""
    venv_bin = str(ROOT / ".venv" / "bin")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MELTANO_", "UV_", "VIRTUAL_ENV", "TAP_", "TARGET_", "AIRFLOW"))
    }
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if p != venv_bin)
    return env | {"UV": str(UV)}


def about(executable: Path) -> dict[str, object]:
    done = subprocess.run(
        [executable, "--about", "--format=json"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{executable} --about: {done.stderr[-2000:]}"
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


@dataclass
class Built:
    image: Image
    output: str  # what build-project.sh printed


def run_script(project_dir: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run the copy's own `script` (build-project.sh, smoke-test.sh) on the copy."""
    return subprocess.run(
        ["sh", project_dir / script, project_dir],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def build(tmp_path: Path) -> Built:
    built = tmp_path / "project"
    build_context_copy(built)
    done = run_script(built, BUILD_SCRIPT)
    assert done.returncode == 0, (
        f"build-project.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    )
    return Built(Image(built, tmp_path / "mounts"), done.stdout)


def check_plugins(built: Built) -> None:
    """The script's smoke test covered every plugin; each is installed where Meltano
    looks for it and answers --about (asked directly, not through Meltano)."""
    plugins = declared_plugins()
    smoke = set(re.findall(r"^ok: (\S+)$", built.output, re.MULTILINE))
    assert smoke == {name for names in plugins.values() for name in names}
    executables = [executable(built, kind, name) for kind in plugins for name in plugins[kind]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(about, executables))
    for path, answer in zip(executables, answers, strict=True):
        assert answer.get("name"), f"{path}: {answer}"
        assert answer.get("settings"), f"{path}: {answer}"


def check_files(built: Built) -> None:
    """The schedules file lists every schedule; nothing is writable but by its owner
    (root in the image, so nothing by the runtime user); no build leftovers."""
    project_dir = built.image.project
    schedules = json.loads((project_dir / "orchestrate/airflow/dags/schedules.json").read_text())
    assert {s["name"] for s in schedules["schedules"]} == declared_schedules()
    # Meltano's logging config: without it the cluster's syncs would keep no run ledger.
    assert (project_dir / "logging.yaml").read_bytes() == (ROOT / "logging.yaml").read_bytes()
    writable = [
        str(p.relative_to(project_dir))
        for p in project_dir.rglob("*")
        if not p.is_symlink() and p.stat().st_mode & 0o022
    ]
    assert not writable, writable[:20]
    assert not (project_dir / ".meltano" / "meltano.db").exists()
    assert not list((project_dir / ".meltano" / "run").iterdir())


# Prints each of its arguments it can create a file in.
WRITE_PROBE = 'for d do if touch "$d/.probe" 2>/dev/null; then rm "$d/.probe"; echo "$d"; fi; done'


def check_read_only_root(built: Built) -> None:
    """The stand-in for the pod holds: only the writable mounts can be written."""
    image = built.image
    places = [*WRITABLE, IMAGE_PROJECT, f"{IMAGE_PROJECT}/.meltano", f"{IMAGE_PROJECT}/.venv", "/"]
    out = image.run(["sh", "-c", WRITE_PROBE, "sh", *(image.path(p) for p in places)])
    assert out.split() == [image.path(p) for p in WRITABLE]


def check_sync_on_read_only_root(built: Built) -> None:
    """A production sync as a pod runs it: `meltano schedule run`, production
    environment and Meltano settings, secrets from the env, into DuckDB instead of
    Snowflake and into SQLite on a writable mount instead of Cloud SQL."""
    tmp = built.image.mounts["/tmp"]
    warehouse = tmp / "warehouse.duckdb"
    with serve("zengrc", seed=SEED) as sandbox:
        built.image.run(
            ["meltano", "--log-format=json", "schedule", "run", "zengrc-to-duckdb"],
            env={
                "MELTANO_ENVIRONMENT": "production",
                "MELTANO_PROJECT_READONLY": "true",
                "MELTANO_CLI_LOG_FORMAT": "json",
                "MELTANO_STATE_BACKEND_URI": "systemdb",
                "MELTANO_DATABASE_URI": f"sqlite:///{tmp / 'meltano.db'}",
                "TAP_ZENGRC_BASE_URL": sandbox.url,
                "TAP_ZENGRC_USERNAME": "sandbox-key",
                "TAP_ZENGRC_PASSWORD": "sandbox-secret",
                "TARGET_DUCKDB_PATH": str(warehouse),
            },
        )
    reports = verify.compare_with_truth(
        warehouse, "zengrc", "tap_zengrc", seed=SEED, dropped_fields=DESELECTED
    )
    assert not [r.describe() for r in reports if not r.ok]


# Run by Airflow's python on the read-only root: the DAG folder as the scheduler sees it.
PARSE_DAGS = """
import json
from airflow.configuration import conf
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
errors = [str(e) for e in bag.import_errors.values()]
print(json.dumps({"dags": sorted(bag.dags), "errors": errors}))
"""


def check_airflow_on_read_only_root(built: Built) -> None:
    python = f"{IMAGE_PROJECT}/orchestrate/airflow/.venv/bin/python"
    out = built.image.run([built.image.path(python), "-c", PARSE_DAGS])
    parsed = json.loads(out.strip().splitlines()[-1])
    expected = sorted([*declared_schedules(), "dataops-watchdog"])
    assert parsed == {"dags": expected, "errors": []}


def check_jvm_on_read_only_root(built: Built) -> None:
    """The runtime stage's JVM check (its RUN naming start_jvm), run here."""
    [check] = [run for run in stages()["runtime"].args("RUN") if "start_jvm" in run]
    built.image.run(["sh", "-c", shlex.join(built.image.path(w) for w in shlex.split(check))])


def check_smoke_test_names_a_plugin_that_fails(built: Built) -> None:
    """The smoke test the build ends with fails, naming the plugin and showing what
    it said, when one loader cannot answer --about."""
    loader = next(iter(declared_plugins()["loaders"]))
    executable(built, "loaders", loader).write_text(
        "#!/bin/sh\necho 'broken on purpose' >&2\nexit 3\n"
    )
    done = run_script(built.image.project, SMOKE_TEST)
    assert done.returncode != 0
    assert f"smoke test failed for: {loader}\n" in done.stderr
    assert "broken on purpose" in done.stderr


def test_build_script_on_a_clean_copy_gives_what_the_image_runs(tmp_path: Path) -> None:
    built = build(tmp_path)
    check_plugins(built)
    check_files(built)
    check_read_only_root(built)
    check_sync_on_read_only_root(built)
    check_airflow_on_read_only_root(built)
    check_jvm_on_read_only_root(built)
    check_smoke_test_names_a_plugin_that_fails(built)  # last: it breaks the build
    shutil.rmtree(built.image.project)  # 2 GB of venvs; kept when a check fails
