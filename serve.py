"""Serve the page and the HTTP API: draw, upload or photograph a digit and watch the vote.

    python serve.py                          # http://127.0.0.1:8000 (this machine only)
    python serve.py --port 8080 --weights my_weights/
    python serve.py --host 0.0.0.0           # reachable from other machines (phones on the LAN)

The API is documented at /docs. It reads images exactly as vote.py does (ensemble/reading.py):
the same decoding, MNIST-style normalization and vote. Limits: --max-file-mb per file,
--max-files per request; the decompression-bomb limit is Pillow's, or $VOTE_MAX_IMAGE_PIXELS.
Uploads stay in memory; nothing a client sends is written to disk. Exit status: 0 after
Ctrl-C / SIGTERM, 1 on a usage error (bad weights, port in use).
"""
from __future__ import annotations

import argparse
import socket
import sys


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="serve.py", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:6]))
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: all)")
    ap.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0: any free port)")
    ap.add_argument("--weights", "--checkpoints", dest="weights", metavar="DIR",
                    help="folder of *.safetensors weight files (default: checkpoints/)")
    ap.add_argument("--device", default="auto", help="auto (default: the GPU if there is one), cpu, cuda, cuda:N")
    ap.add_argument("--max-file-mb", type=float, default=10, metavar="MB", help="per uploaded file (default 10 MiB)")
    ap.add_argument("--max-files", type=int, default=100, metavar="N", help="files per request (default 100)")
    ap.add_argument("--access-log", action="store_true", help="print one line per request")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        ap.error("--port must be 0..65535")
    if args.max_file_mb <= 0 or args.max_files < 1:
        ap.error("--max-file-mb and --max-files must be positive")
    return args


def bind(host: str, port: int) -> socket.socket:
    """Bind before loading anything heavy, so a busy port fails fast with a clear message."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(addr)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        sock = bind(args.host, args.port)
    except OSError as e:
        print(f"serve.py: error: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    import uvicorn

    import vote
    from ensemble.reading import pixel_limit_from_env
    from web import create_app
    try:
        ens = vote.load_ensemble(argparse.Namespace(device=args.device, checkpoints=args.weights,
                                                    min_agreement=None))
        max_pixels = pixel_limit_from_env()
    except (vote.UsageError, ValueError) as e:
        print(f"serve.py: error: {e}", file=sys.stderr)
        return 1
    app = create_app(ens, max_file_bytes=int(args.max_file_mb * 2**20), max_files=args.max_files,
                     max_pixels=max_pixels)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"serve.py: {len(ens)} members on {ens.device}; open http://{shown}:{port}/ "
          f"(API docs: http://{shown}:{port}/docs); Ctrl-C to stop", file=sys.stderr, flush=True)
    if host in ("0.0.0.0", "::"):
        print("serve.py: listening on every network interface: other machines can reach it "
              "(use this machine's address)", file=sys.stderr)
    config = uvicorn.Config(app, log_level="warning", access_log=args.access_log,
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
