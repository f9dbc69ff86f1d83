"""serve.py and a live uvicorn server: binding, start/stop, limits enforced while bodies stream."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ensemble import Ensemble
from standins import ink_digits, save_ink_members
from test_api import png
from web import create_app
from web.server import bind, serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def ink_dir(tmp_path_factory):
    return save_ink_members(tmp_path_factory.mktemp("ink"))


class Counting:
    """ASGI wrapper: how many body bytes the app has pulled from the connection."""

    def __init__(self, app):
        self.app, self.received = app, 0

    async def __call__(self, scope, receive, send):
        async def counted():
            message = await receive()
            self.received += len(message.get("body", b""))
            return message
        await self.app(scope, counted, send)


@pytest.fixture(scope="module")
def live(ink_dir):
    app = Counting(create_app(Ensemble(ink_dir, device="cpu"), max_file_bytes=LIMIT, max_files=5))
    with serve_in_thread(app) as url:
        yield app, url


def raw_request(url: str, head: bytes, body_chunks=(), timeout=20.0) -> tuple[int, bytes, int]:
    """Send `head` then chunks until the server answers; return (status, response, bytes sent)."""
    host, port = re.match(r"http://([\d.]+):(\d+)", url).groups()
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(head)
    sent = 0
    s.setblocking(False)
    data = b""
    for chunk in body_chunks:
        try:
            data += s.recv(65536)
        except BlockingIOError:
            pass
        except ConnectionError:
            break
        if data:
            break
        try:
            s.sendall(chunk)
            sent += len(chunk)
        except (BlockingIOError, ConnectionError):
            time.sleep(0.01)
    s.setblocking(True)
    s.settimeout(timeout)
    try:
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 20:
            more = s.recv(65536)
            if not more:
                break
            data += more
    except (ConnectionError, socket.timeout):
        pass
    s.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1") else 0
    return status, data, sent


def test_chunked_upload_is_refused_while_it_streams(live):
    app, url = live
    app.received = 0
    head = (b"POST /api/vote HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    piece = b"%x\r\n%s\r\n" % (32768, b"\0" * 32768)
    status, data, _ = raw_request(url, head, (piece for _ in range(2000)))          # 64 MiB if all sent
    assert status == 413 and b"limit" in data
    assert app.received <= LIMIT + 2 * 65536                  # read no further than the limit


def test_declared_oversize_is_refused_before_the_body(live):
    app, url = live
    for path, ctype in (("/api/vote", b"image/png"), ("/api/vote", b"multipart/form-data; boundary=x"),
                        ("/api/distort", b"application/json")):
        t = time.time()
        head = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                % (path.encode(), ctype, 2 * 2**30))
        status, data, _ = raw_request(url, head)               # not one byte of the 2 GiB is sent
        assert status == 413 and time.time() - t < 10, data[:200]


def test_concurrent_clients_get_their_own_rows(live):
    _, url = live
    d = ink_digits()

    def one(i):
        k = i % 10
        req = urllib.request.Request(f"{url}/api/vote?name=q{i}", data=png(d[k]),
                                     headers={"Content-Type": "image/png"})
        row = json.loads(urllib.request.urlopen(req, timeout=30).read())["images"][0]
        return row["path"] == f"q{i}" and row["prediction"] == k

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(one, range(96)))
    health = json.loads(urllib.request.urlopen(f"{url}/api/health").read())
    assert health["images_voted"] >= 96 and health["forward_passes"] >= 1


# ---- serve.py --------------------------------------------------------------------------------------
def start(*args, **kw):
    return subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--precision", "fp32", *args],
                            stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, **kw)


def test_serve_py_binds_loopback_prints_the_url_and_stops(ink_dir):
    from serve import parse_args
    assert parse_args([]).host == "127.0.0.1" and parse_args([]).port == 8000
    p = start("--port", "0", "--weights", str(ink_dir))
    try:
        line = p.stderr.readline()
        url = re.search(r"open (http://127\.0\.0\.1:\d+)/ ", line).group(1)
        doc = json.loads(urllib.request.urlopen(f"{url}/api/health", timeout=30).read())
        assert doc["members"] == 3
        page = urllib.request.urlopen(f"{url}/", timeout=30).read().decode()
        assert "<canvas" in page
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) in (0, -signal.SIGTERM, 143)
        assert "Traceback" not in p.stderr.read()
    finally:
        p.kill()


def test_serve_py_usage_errors(ink_dir, tmp_path):
    busy = bind("127.0.0.1", 0)
    try:
        p = start("--port", str(busy.getsockname()[1]), "--weights", str(ink_dir))
        assert p.wait(60) == 1 and "cannot listen" in p.stderr.read()
    finally:
        busy.close()
    p = start("--port", "0", "--weights", str(tmp_path / "nowhere"))
    err = p.stderr.read()
    assert p.wait(60) == 1 and "no such weights folder" in err and "Traceback" not in err
