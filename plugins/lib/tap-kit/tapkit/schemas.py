"""Schema drift: a stream's columns compared with those its bookmarks were made with.

Three taps type their streams from the source at run time (Domo metadata, JDBC
metadata, Adaptive dimensions), and any tap's schema can change with a new version.
Before any stream syncs, :func:`check_schemas` describes each selected stream — its
key and its selected columns with their types (:func:`describe`) — and compares it with
the description kept in that stream's state (key ``schema``) by the last run that
synced it. What changed (a column added, removed or retyped, the key changed) is
logged as one structured event per stream, ``dataops_schema``, which the platform's run
ledger keeps and ``dataops status`` reports. Then, per the tap's ``schema_policy``:

- ``evolve`` (default): load, and keep the new description in the state;
- ``freeze``: a change stops the run before any record is sent, naming the columns.

A stream with no description in its state (a first sync, a reset, a full refresh, which
passes no state) takes the schema it finds. Nested properties count as their top-level
column (``object``/``array``): a change inside one is not reported.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from singer_sdk import Stream

STATE_KEY = "schema"
"""Stream state key holding the description the stream's bookmarks were made with."""
EVENT = "dataops_schema"
"""Log record attribute (a JSON field with structured logging) of the per-stream report."""
POLICIES = ("evolve", "freeze")

Description = dict[str, t.Any]
"""``{"key": [column, …], "columns": [[column, type text], …]}``. Lists, not a mapping:
Meltano merges a partial state (a run with ``--select``, ``--full-refresh`` or
``--state-strategy merge``) into the stored one key by key, so a mapping would keep
the columns a newer description no longer has; a list is replaced whole."""


class SchemaChanged(Exception):
    """A stream's schema changed under ``schema_policy: freeze`` (the message says how)."""


def schema_policy_setting() -> th.Property:
    """The ``schema_policy`` setting every tap declares."""
    return th.Property(
        "schema_policy",
        th.StringType(allowed_values=list(POLICIES)),
        default="evolve",
        description=(
            "What a changed schema does: evolve (load and report) or freeze (stop the "
            "run before loading anything)."
        ),
    )


def type_text(prop: dict[str, t.Any]) -> str:
    """A JSON schema property's type in short: ``integer``, ``string (date-time)``,
    ``number|string``; null does not count (columns are nullable)."""
    if "anyOf" in prop:
        return "|".join(sorted({type_text(option) for option in prop["anyOf"]} - {"null"}))
    kinds = prop.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    text = "|".join(sorted(set(kinds) - {"null"})) or "null"
    return f"{text} ({prop['format']})" if prop.get("format") else text


def describe(stream: Stream) -> Description:
    """The key and selected columns (with type text) of ``stream`` as it syncs now."""
    properties = stream.schema.get("properties", {})
    return {
        "key": list(stream.primary_keys or []),
        "columns": [
            [name, type_text(prop)]
            for name, prop in properties.items()
            if stream.mask.get(("properties", name), True)
        ],
    }


def changes(before: Description, now: Description) -> list[str]:
    """What differs from ``before`` to ``now``, one phrase per change, in column order."""
    found = []
    old, new = dict(before.get("columns", [])), dict(now.get("columns", []))
    for name, kind in new.items():
        if name not in old:
            found.append(f"added {name} ({kind})")
        elif old[name] != kind:
            found.append(f"retyped {name}: {old[name]} → {kind}")
    found += [f"removed {name} ({kind})" for name, kind in old.items() if name not in new]
    if list(before.get("key", [])) != list(now.get("key", [])):
        found.append(f"key {before.get('key', [])} → {now.get('key', [])}")
    return found


def check_schemas(tap_name: str, streams: list[Stream], policy: str) -> None:
    """Report each stream's schema and what changed; under ``freeze`` raise
    :class:`SchemaChanged` if anything did, before any state or record is written;
    otherwise keep each stream's description in its state for the next run."""
    found: dict[str, list[str]] = {}
    described = {stream.tap_stream_id: describe(stream) for stream in streams}
    for stream in streams:
        now = described[stream.tap_stream_id]
        before = stream.stream_state.get(STATE_KEY)
        changed = changes(before, now) if before else []
        found[stream.tap_stream_id] = changed
        stream.logger.info(
            "schema of %s: %s",
            stream.tap_stream_id,
            "; ".join(changed) if changed else ("unchanged" if before else "first seen"),
            extra={
                EVENT: {
                    "stream": stream.tap_stream_id,
                    "schema": now,
                    "changes": changed,
                    "policy": policy,
                }
            },
        )
    drifted = {name: changed for name, changed in found.items() if changed}
    if policy == "freeze" and drifted:
        listed = "; ".join(f"{name}: {', '.join(changed)}" for name, changed in drifted.items())
        msg = (
            f"{tap_name}: schema changed and schema_policy is freeze, so nothing was loaded — "
            f"{listed}. To accept it, resync the stream (`dataops resync SCHEDULE --stream "
            f"NAME`, or the DAG's streams and full_refresh parameters): it takes the schema "
            f"it finds"
        )
        raise SchemaChanged(msg)
    for stream in streams:
        stream.stream_state[STATE_KEY] = described[stream.tap_stream_id]
