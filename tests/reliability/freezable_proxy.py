"""A TCP proxy in front of the test PostgreSQL that can be frozen: it keeps accepting
connections and keeps every socket open, but forwards no byte either way until thawed. To a
client that is a server stopped by SIGSTOP (its kernel still completes the handshake and
acknowledges what is sent), without stopping the server the other tests share."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from metricx.db import libpq_url

POLL = 0.05  # how often a forwarding thread held by the freeze looks whether to stop


def upstream_address(database_url: str) -> tuple[int, Any]:
    """(address family, address) of the server behind ``database_url``: TCP, or the Unix
    socket of the embedded server."""
    params = psycopg.conninfo.conninfo_to_dict(libpq_url(database_url))
    host = str(params.get("host") or "127.0.0.1")
    port = int(params.get("port") or 5432)
    if host.startswith("/"):
        return socket.AF_UNIX, f"{host}/.s.PGSQL.{port}"
    return socket.AF_INET, (host, port)


class FreezableProxy:
    def __init__(self, database_url: str) -> None:
        self.family, self.upstream = upstream_address(database_url)
        self.database_url = database_url
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.thawed = threading.Event()
        self.thawed.set()
        self.stopped = threading.Event()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """``database_url`` through the proxy."""
        u = make_url(self.database_url)
        return u.set(host="127.0.0.1", port=self.port, query={}).render_as_string(False)

    def freeze(self) -> None:
        self.thawed.clear()

    def thaw(self) -> None:
        self.thawed.set()

    def close(self) -> None:
        self.stopped.set()
        self.thawed.set()
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(self.family, socket.SOCK_STREAM)
            try:
                server.connect(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._forward, args=(src, dst), daemon=True).start()

    def _held(self) -> bool:
        """Wait while frozen; True when the proxy is being closed instead."""
        while not self.thawed.wait(POLL):
            if self.stopped.is_set():
                return True
        return self.stopped.is_set()

    def _forward(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                if self._held():
                    return
                data = src.recv(65536)
                if not data:
                    break
                if self._held():  # read just before a freeze: held back too
                    return
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):  # one side closed: close the other, as a real server would
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
