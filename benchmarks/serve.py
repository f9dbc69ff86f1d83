"""Load test of the HTTP API on loopback: N single-image requests from C concurrent clients.

    python benchmarks/serve.py                        # starts serve.py on a free 127.0.0.1 port
    python benchmarks/serve.py --requests 2000 --clients 16 --multipart
    python benchmarks/serve.py --max-batch 1          # the same without batching, for comparison
    python benchmarks/serve.py --url http://127.0.0.1:8000    # a server already running (loopback only)

Each request is one MNIST test digit as a 28x28 PNG, sent as the raw body of POST /api/vote
(--multipart: as a multipart file, as the page sends it). Bounded: it stops after --requests
requests or --max-seconds, whichever comes first, then stops the server it started. Every
answer is checked (HTTP 200, one row, status ok); any failure counts as an error and makes the
exit status 1. Prints requests/s, p50/p99 latency, errors, the server's mean batch (inputs per
forward pass) and the accuracy of the answers against the MNIST labels.
Target (issue 10): >= 200 requests/s on 2 CPU cores with 16 clients, no errors.
"""
from __future__ import annotations

import argparse
import http.client
import io
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pngs(n: int) -> tuple[list[bytes], np.ndarray]:
    from PIL import Image

    from generators import load_mnist
    images, labels = (np.asarray(a) for a in load_mnist("test"))
    out = []
    for img in images[:n]:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "PNG")
        out.append(buf.getvalue())
    return out, labels[:n]


def start_server(args) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, str(ROOT / "serve.py"), "--port", "0", "--device", args.device,
           "--max-batch", str(args.max_batch)]
    if args.weights:
        cmd += ["--weights", args.weights]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    for line in proc.stderr:                                  # "... open http://127.0.0.1:PORT/ ..."
        m = re.search(r"open (http://\S+?)/ ", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()   # keep draining
            return proc, m.group(1)
        if time.time() > deadline:
            break
    proc.kill()
    raise SystemExit(f"serve.py did not start: {line.strip() if 'line' in dir() else ''}")


def loopback_only(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ok = ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        ok = False
    if parts.scheme != "http" or not ok:
        raise SystemExit(f"--url must be http:// on a loopback address (127.0.0.1, localhost), got {url}")
    return host, parts.port or 80


def request(conn, body: bytes, multipart: bool) -> dict:
    if multipart:
        b = uuid.uuid4().hex
        payload = (f"--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"d.png\"\r\n"
                   f"Content-Type: image/png\r\n\r\n").encode() + body + f"\r\n--{b}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={b}"}
    else:
        payload, headers = body, {"Content-Type": "image/png"}
    conn.request("POST", "/api/vote", body=payload, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
    return json.loads(data)


def run(host, port, bodies, labels, args) -> dict:
    lock = threading.Lock()
    next_i = [0]
    lat, errors, correct = [], [], [0]
    deadline = time.time() + args.max_seconds

    def client():
        conn = http.client.HTTPConnection(host, port, timeout=60)
        while time.time() < deadline:
            with lock:
                i = next_i[0]
                if i >= args.requests:
                    return
                next_i[0] += 1
            k = i % len(bodies)
            t = time.perf_counter()
            try:
                doc = request(conn, bodies[k], args.multipart)
                rows = doc["images"]
                if len(rows) != 1 or rows[0]["status"] != "ok":
                    raise RuntimeError(f"bad answer {rows!r:.200}")
                dt = time.perf_counter() - t
                with lock:
                    lat.append(dt)
                    correct[0] += rows[0]["prediction"] == int(labels[k])
            except Exception as e:                            # counted, reported, never hidden
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
        conn.close()

    # warm-up (first forward passes allocate), not timed
    conn = http.client.HTTPConnection(host, port, timeout=60)
    for k in range(8):
        request(conn, bodies[k], args.multipart)
    conn.close()
    before = health(host, port)
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    after = health(host, port)
    passes = after["forward_passes"] - before["forward_passes"]
    inputs = after["images_voted"] - before["images_voted"]
    ms = np.array(lat) * 1000
    return {"requests": len(lat) + len(errors), "ok": len(lat), "errors": len(errors), "error_examples": errors[:3],
            "seconds": wall, "rps": len(lat) / wall if wall else 0.0,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
            "mean_batch": inputs / passes if passes else float("nan"),
            "accuracy": correct[0] / len(lat) if lat else float("nan"),
            "stopped_by_time": next_i[0] < args.requests}


def health(host, port) -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/api/health")
    doc = json.loads(conn.getresponse().read())
    conn.close()
    return doc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--max-seconds", type=float, default=300, help="stop sending after this long (default 300)")
    ap.add_argument("--multipart", action="store_true", help="send multipart files instead of raw bodies")
    ap.add_argument("--url", help="a running server on loopback (default: start serve.py)")
    ap.add_argument("--weights", help="weights folder for the server started here")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-batch", type=int, default=256, help="serve.py --max-batch (1: no batching)")
    args = ap.parse_args(argv)
    if args.requests < 1 or args.clients < 1:
        ap.error("--requests and --clients must be positive")
    bodies, labels = pngs(min(args.requests, 10000))
    proc = None
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            proc, url = start_server(args)
        host, port = loopback_only(url)
        r = run(host, port, bodies, labels, args)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    body = "multipart file" if args.multipart else "raw body"
    print(f"| requests | clients | body | errors | seconds | requests/s | p50 ms | p99 ms | mean batch | accuracy |")
    print(f"|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {r['requests']:,} | {args.clients} | {body} | {r['errors']} | {r['seconds']:.1f} | {r['rps']:.0f} | "
          f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['mean_batch']:.1f} | {100 * r['accuracy']:.2f} % |")
    print(f"machine: {os.cpu_count()} CPUs; server device {args.device}; loopback {url}", file=sys.stderr)
    if r["stopped_by_time"]:
        print(f"stopped by --max-seconds {args.max_seconds:g} before {args.requests} requests", file=sys.stderr)
    for e in r["error_examples"]:
        print(f"error: {e}", file=sys.stderr)
    return 1 if r["errors"] or r["stopped_by_time"] else 0


if __name__ == "__main__":
    sys.exit(main())
