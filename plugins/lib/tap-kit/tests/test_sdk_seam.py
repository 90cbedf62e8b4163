"""The seam (``tapkit.sdk_seam``) against the installed singer-sdk: every private or
final SDK method it overrides or calls is still there, taking the same parameters. A
failure names the method: read the new SDK's code and adapt the seam."""

from __future__ import annotations

import inspect

import pytest
from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.streams import RESTStream
from typing_extensions import override

from dataops.testing.tap_tests import overrides_out_of_step
from tapkit import sdk_seam

CALLED: dict[type, dict[str, list[str]]] = {
    Tap: {
        "_reset_state_progress_markers": ["self"],
        "_set_compatible_replication_methods": ["self"],
    },
    Stream: {
        "_write_state_message": ["self"],
        "_write_activate_version_message": ["self", "full_table_version"],
    },
    RESTStream: {
        "_prepare_request": ["self", "context", "page"],
        "_request": ["self", "prepared_request", "context"],
    },
}
"""Private SDK methods the seam calls, with the parameters it passes."""


def test_every_override_of_the_seam_matches_the_sdk() -> None:
    seam_classes = [
        cls
        for cls in vars(sdk_seam).values()
        if inspect.isclass(cls) and cls.__module__ == sdk_seam.__name__
    ]
    assert len(seam_classes) == 4
    assert overrides_out_of_step(*seam_classes) == []


@pytest.mark.parametrize(
    ("owner", "name"), [(owner, name) for owner, methods in CALLED.items() for name in methods]
)
def test_every_private_method_the_seam_calls_is_there(owner: type, name: str) -> None:
    method = getattr(owner, name, None)
    assert method is not None, f"singer_sdk {owner.__qualname__}.{name} is gone"
    parameters = list(inspect.signature(method).parameters)
    assert parameters == CALLED[owner][name], f"singer_sdk {owner.__qualname__}.{name} changed"


class _Stream(sdk_seam.SeamStream):
    name = "numbers"
    schema = {"properties": {"n": {"type": "integer"}}}

    @override
    def get_records(self, context: object) -> list[dict]:
        return [{"n": 1}]


class _Tap(sdk_seam.SeamTap):
    name = "tap-seam"
    config_jsonschema = {"properties": {"size": {"type": "integer", "minimum": 1}}}

    @override
    def discover_streams(self) -> list[Stream]:
        return [_Stream(self)]


def test_the_private_attributes_the_seam_uses_are_set_by_the_sdk() -> None:
    tap = _Tap(config={})
    stream = tap.streams["numbers"]
    assert isinstance(tap._state_writer, sdk_seam.LockedStateWriter)
    assert isinstance(stream, _Stream)
    assert stream.tap is tap
    assert stream.records_version is None
    stream.records_version = 7
    assert stream._stream_version == 7


def test_a_setting_out_of_range_is_reported_in_words() -> None:
    with pytest.raises(ConfigValidationError) as failed:
        _Tap(config={"size": 0})
    assert failed.value.errors == ["tap-seam `size` must be at least 1, got 0"]
