"""What lets collections sync in parallel threads without breaking Singer's rules.

Every message is written as one whole line under one lock, and the tap state is only
read (for a STATE message) or changed (bookmarks) under that same lock, so each STATE
message is a consistent snapshot that follows every record it covers.
"""

from __future__ import annotations

import sys
import threading
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers._state import StateWriter
from singer_sdk.singerlib import SingerMessageType

if t.TYPE_CHECKING:
    from singer_sdk.helpers import types
    from singer_sdk.singerlib import Message

SYNC_LOCK = threading.RLock()


class LockedWriter(MsgSpecWriter):
    """Writes each Singer message as one whole line, whichever thread sends it.

    Serialising happens under the lock too: msgspec encodes into one shared buffer.
    Output is flushed at each STATE message rather than each record: a record still
    in the buffer when the process dies is covered by no STATE the target has seen.
    """

    def write_message(self, message: Message) -> None:
        with SYNC_LOCK:
            sys.stdout.buffer.write(self.format_message(message))
            if message.type == SingerMessageType.STATE:
                sys.stdout.flush()


class LockedStateWriter(StateWriter):
    """Compares and snapshots the shared state while no stream changes it."""

    def write_state(self, state: types.TapState) -> None:
        with SYNC_LOCK:
            super().write_state(state)
