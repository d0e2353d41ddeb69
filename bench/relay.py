"""A byte-for-byte TCP relay in front of a model server that records each HTTP request and when
the server's reply text passed it (about 0.1 ms more per request), and :func:`replay` to send a
recorded request as is to another server. :mod:`bench.path` and :mod:`bench.browser` use it to
split a reply's time into the app's share and the server's, on the very same request."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Request:
    started: float  # time.time() of its first byte
    path: str
    body: bytes
    pieces: list[tuple[float, int]] = field(default_factory=list)  # (time.time(), characters) of each text chunk

    @property
    def first_content(self) -> float | None:
        """time.time() when the first response chunk with text passed the relay."""
        return self.pieces[0][0] if self.pieces else None

    @property
    def server_ms(self) -> float:
        """The server's own time to first text: from the request's first byte to the first text
        passing the relay (0 if no text came)."""
        return ((self.first_content or self.started) - self.started) * 1000


@dataclass
class Relay:
    """A TCP relay on a free port that records the HTTP requests passing through it."""

    upstream: tuple[str, int]
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    @classmethod
    def before(cls, base_url: str) -> Relay:
        """A started relay in front of the server at ``base_url`` (``http://host:port/v1``)."""
        host, port = base_url.removeprefix("http://").removesuffix("/v1").split(":")
        return cls((host, int(port))).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Relay:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending: list[Request] = []
            threading.Thread(target=self._up, args=(client, server, pending), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, pending), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, pending: list[Request]) -> None:
        buffer, started = b"", 0.0
        while data := _recv(client):
            if not buffer:
                started = time.time()
            if not _send(server, data):
                break
            buffer += data
            while b"\r\n\r\n" in buffer:
                head, rest = buffer.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                length = next((int(v) for k, _, v in (h.partition(":") for h in lines[1:])
                               if k.strip().lower() == "content-length"), 0)  # fmt: skip
                if len(rest) < length:
                    break
                request = Request(started, lines[0].split(" ")[1], rest[:length])
                self.requests.append(request)
                pending.append(request)
                buffer, started = rest[length:], time.time()
        server.close()

    def _down(self, server: socket.socket, client: socket.socket, pending: list[Request]) -> None:
        """Pass the response on, then note when each server-sent event with text passed (an event
        can be split between two reads: it counts when its last byte passed)."""
        partial = b""
        while data := _recv(server):
            now = time.time()
            if not _send(client, data):  # the client hung up (Stop, a page closed): so does the relay
                break
            *lines, partial = (partial + data).split(b"\n")
            request = pending[-1] if pending else None
            if request is not None:
                request.pieces.extend((now, n) for n in map(_text_length, lines) if n)
        client.close()

    def stop(self) -> None:
        self._listener.close()


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _text_length(line: bytes) -> int:
    """Characters of reply text (the answer, or a reasoning model's thinking in the fields servers
    send it in) in one line of a chat completion stream (0 for anything else)."""
    if not line.startswith(b"data: {"):
        return 0
    try:
        choices = json.loads(line[6:]).get("choices") or [{}]
    except ValueError:
        return 0
    delta = choices[0].get("delta") or {}
    return sum(len(delta.get(name) or "") for name in ("content", "reasoning_content", "reasoning"))


def replay(
    base_url: str, request: Request, client: httpx.Client | None = None
) -> tuple[float, list[tuple[float, int]]]:
    """(time to first text ms, (time.time(), characters) of each text piece) of ``request`` sent as
    is to ``base_url`` (through ``client``, e.g. one kept alive as the app's is)."""
    url = base_url.removesuffix("/v1") + request.path
    started = time.time()
    pieces: list[tuple[float, int]] = []
    headers = {"content-type": "application/json", "authorization": "Bearer lm-studio"}
    send = client.stream if client is not None else httpx.stream
    with send("POST", url, content=request.body, headers=headers, timeout=120) as response:
        for line in response.iter_lines():
            if n := _text_length(line.encode()):
                pieces.append((time.time(), n))
    return ((pieces[0][0] - started) * 1000 if pieces else float("nan")), pieces
