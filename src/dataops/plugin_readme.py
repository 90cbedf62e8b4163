"""The settings section of every plugin's README.md, generated from the plugin's `--about`.

A plugin is a folder `plugins/<kind>/<name>/` whose pyproject.toml declares a console
script (tap-kit, a library, has none). Its README holds, between the `BEGIN` and `END`
marker lines, the capabilities and the settings table as the plugin itself reports
them: `<executable> --about --format=json`, run from the workspace venv (beside this
Python, as `dataops.testing.singer_run` runs taps). The JSON is rendered here rather
than taken from `--format=markdown`, which prints Python reprs as defaults (`None`,
`['a']`), neither types nor bounds nor the fields of array items, and leaves `|` and
`<` unescaped (a regex default splits its row; `https://<tenant>…` loses `<tenant>`).

`dataops plugin-readmes` rewrites the sections; `tests/test_plugin_readmes.py` fails while
one differs from `--about` (:func:`problem`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMMAND = "dataops plugin-readmes"
BEGIN = f"<!-- BEGIN settings, generated from `--about` by `{COMMAND}`: do not edit -->"
END = "<!-- END settings -->"


class ReadmeError(RuntimeError):
    """A plugin's README has no generated section to rewrite, or `--about` failed."""


@dataclass(frozen=True)
class Plugin:
    directory: Path
    executable: str

    @property
    def readme(self) -> Path:
        return self.directory / "README.md"


def plugins(root: Path) -> list[Plugin]:
    """Every plugin with an executable in the repository at `root`, in path order."""
    found: list[Plugin] = []
    for pyproject in sorted((root / "plugins").glob("*/*/pyproject.toml")):
        scripts = tomllib.loads(pyproject.read_text())["project"].get("scripts", {})
        found.extend(Plugin(pyproject.parent, name) for name in scripts)
    if not found:
        raise ReadmeError(f"no plugins/*/*/pyproject.toml with a script under {root}")
    return found


def about(executable: str) -> dict[str, Any]:
    """What `<executable> --about --format=json` prints, parsed."""
    command = [str(Path(sys.executable).with_name(executable)), "--about", "--format=json"]
    answer = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if answer.returncode != 0:
        raise ReadmeError(f"`{executable} --about` failed:\n{answer.stderr.strip()}")
    return json.loads(answer.stdout)


def _cell(text: str) -> str:
    """Markdown text for one table cell: one line, `|` escaped, and `<` outside code
    spans too (it would open an HTML tag)."""
    spans = " ".join(text.split()).split("`")
    spans[::2] = [span.replace("<", "&lt;") for span in spans[::2]]
    return "`".join(spans).replace("|", r"\|")


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _cell(f"`{text}`")


def _kinds(schema: dict[str, Any]) -> list[str]:
    """The non-null JSON types a property allows, spelled for a reader."""
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return [kind for alt in alternatives if isinstance(alt, dict) for kind in _kinds(alt)]
    if "const" in schema:
        return [_code(schema["const"])] if schema["const"] is not None else []
    types = schema.get("type", [])
    kinds = []
    for kind in [types] if isinstance(types, str) else types:
        if kind == "array" and "items" in schema:
            kinds.append(f"array of {' or '.join(_kinds(schema['items']))}")
        elif kind == "string" and "format" in schema:
            kinds.append(f"string ({schema['format']})")
        elif kind != "null":
            kinds.append(kind)
    return kinds


BOUNDS = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}


def _type_text(schema: dict[str, Any]) -> str:
    text = " or ".join(_kinds(schema))
    text += "".join(f" {sign} {schema[bound]}" for bound, sign in BOUNDS.items() if bound in schema)
    choices = [choice for choice in schema.get("enum", []) if choice is not None]
    if choices:
        text += ": " + ", ".join(_code(choice) for choice in choices)
    if schema.get("secret"):
        text += ", secret"
    return text


def _rows(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """One table row per setting, then its sub-settings (`a.b`; `a[].b` for the fields
    of an array's items)."""
    rows = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        setting = f"{prefix}{name}"
        default = _code(prop["default"]) if "default" in prop else ""
        description = _cell(prop.get("description") or prop.get("title") or "")
        needed = "yes" if name in required else ""
        rows.append(f"| `{setting}` | {_type_text(prop)} | {needed} | {default} | {description} |")
        rows += _rows(prop, f"{setting}.")
        rows += _rows(prop.get("items", {}), f"{setting}[].")
    return rows


def settings_section(info: dict[str, Any]) -> str:
    """The generated section (markers included) for a plugin's `--about` JSON."""
    capabilities = ", ".join(f"`{capability}`" for capability in info["capabilities"])
    lines = [
        BEGIN,
        f"Capabilities: {capabilities}.",
        "",
        "| Setting | Type | Required | Default | Description |",
        "|:--|:--|:-:|:--|:--|",
        *_rows(info["settings"]),
        END,
    ]
    return "\n".join(lines)


def _split(readme: Path) -> tuple[str, str, str]:
    """The README's text before the section, the section, and after it."""
    if not readme.is_file():
        raise ReadmeError(f"{readme} is missing: write it with the {BEGIN} / {END} lines")
    text = readme.read_text()
    start = text.find(BEGIN)
    end = text.find(END, start)
    if start < 0 or end < 0:
        raise ReadmeError(f"{readme} has no {BEGIN} … {END} section (in that order)")
    end += len(END)
    return text[:start], text[start:end], text[end:]


def problem(plugin: Plugin) -> str | None:
    """Why the plugin's README does not show what `--about` prints now (None: it does)."""
    try:
        _, section, _ = _split(plugin.readme)
    except ReadmeError as exc:
        return str(exc)
    if section != settings_section(about(plugin.executable)):
        return f"the settings section of {plugin.readme} differs from `--about`"
    return None


def regenerate(root: Path) -> list[Path]:
    """Rewrite every plugin README's section from `--about` (none if one fails); the
    READMEs changed."""
    rewritten: dict[Path, str] = {}
    for plugin in plugins(root):
        before, section, after = _split(plugin.readme)
        generated = settings_section(about(plugin.executable))
        if section != generated:
            rewritten[plugin.readme] = before + generated + after
    for readme, text in rewritten.items():
        readme.write_text(text)
    return list(rewritten)
