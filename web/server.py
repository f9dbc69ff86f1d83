"""Running the app: bind a socket first (a busy port fails fast, port 0 picks a free one), then
uvicorn on it, in the foreground (serve.py) or in a thread (tests, screenshots, benchmarks).

    sock = bind("127.0.0.1", 0)
    with serve_in_thread(app, sock) as url:      # "http://127.0.0.1:PORT"
        ...
"""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (OSError if the address is taken or not ours)."""
    family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def config(app, access_log: bool = False):
    import uvicorn
    return uvicorn.Config(app, log_level="warning", access_log=access_log, timeout_graceful_shutdown=5)


@contextmanager
def serve_in_thread(app, sock: socket.socket | None = None, timeout: float = 30.0):
    """uvicorn serving `app` on `sock` (default: a free 127.0.0.1 port) in a daemon thread."""
    import uvicorn
    sock = sock or bind("127.0.0.1", 0)
    server = uvicorn.Server(config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
