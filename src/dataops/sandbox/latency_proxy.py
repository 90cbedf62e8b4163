"""A TCP relay that delays one direction: a round trip over a WAN, on loopback."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time


class LatencyProxy:
    """A TCP relay that delivers the server's bytes ``delay`` seconds late: each JDBC
    round trip (login, query, fetch of the next rows) costs what it would over a WAN,
    while throughput stays that of the loopback."""

    def __init__(self, host: str, target_port: int, delay: float) -> None:
        self._target = (host, target_port)
        self._delay = delay
        self._listener = socket.create_server((host, 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="latency-proxy").start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            try:
                server = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            self._relay(client, server, 0.0)
            self._relay(server, client, self._delay)

    def _relay(self, source: socket.socket, sink: socket.socket, delay: float) -> None:
        """Copy ``source`` to ``sink``, each chunk sent ``delay`` s after it arrived."""
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def receive() -> None:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                chunks.put((time.monotonic() + delay, data))
                if not data:
                    return

        def send() -> None:
            try:
                while True:
                    due, data = chunks.get()
                    time.sleep(max(0.0, due - time.monotonic()))
                    if not data:
                        break
                    sink.sendall(data)
            except OSError:
                pass  # the other end went away: pass that on
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            source.close()  # this direction is done; the other one ends on its own

        threading.Thread(target=receive, daemon=True).start()
        threading.Thread(target=send, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
