"""Settings errors in words: which setting, what it must be, what it was.

The taps declare their settings' ranges in ``config_jsonschema`` (``minimum`` and the
like); the SDK validates the config against it and would report JSON Schema's own
phrasing (``0 is less than the minimum of 1 in config['page_size']``). The taps report
each failure as :func:`setting_errors` words it instead
(``tap-xactly `page_size` must be at least 1, got 0``), through
:class:`tapkit.sdk_seam.SeamTap`.
"""

from __future__ import annotations

import typing as t

from jsonschema import Draft202012Validator

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from jsonschema import ValidationError

HTTPS_URL = (
    r"^(https://[^/\s]+|http://([^/@\s]*@)?(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?)(/\S*)?$"
)
"""A URL over HTTPS, or over plain HTTP to this machine (tapkit.http.api_url_setting)."""
PATTERNS = {HTTPS_URL: "an https:// URL (plain http:// only to 127.0.0.1 or localhost)"}
"""What a pattern means, in the words a settings error uses."""

BOUNDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "more than",
    "exclusiveMaximum": "less than",
}


def setting_errors(tap: str, schema: Mapping[str, t.Any], config: Mapping[str, t.Any]) -> list[str]:
    """One sentence per way ``config`` breaks ``schema``, naming the tap and setting."""
    return [_sentence(tap, error) for error in Draft202012Validator(schema).iter_errors(config)]


def _sentence(tap: str, error: ValidationError) -> str:
    """The words for one failure; a secret setting's value is never shown."""
    setting = ".".join(str(part) for part in error.absolute_path)
    if not setting:
        return f"{tap} settings: {error.message}"
    secret = isinstance(error.schema, dict) and bool(error.schema.get("secret"))
    shown = "a secret value" if secret else repr(error.instance)
    if error.validator in BOUNDS:
        bound = BOUNDS[str(error.validator)]
        return f"{tap} `{setting}` must be {bound} {error.validator_value}, got {shown}"
    if error.validator == "pattern" and error.validator_value in PATTERNS:
        return f"{tap} `{setting}` must be {PATTERNS[str(error.validator_value)]}, got {shown}"
    if secret:
        return f"{tap} `{setting}` fails `{error.validator}: {error.validator_value!r}`"
    return f"{tap} `{setting}`: {error.message}"
