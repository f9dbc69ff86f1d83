"""Serve the page and the HTTP API: draw, upload or photograph a digit and watch the vote.

    python serve.py                          # http://127.0.0.1:8000 (this machine only)
    python serve.py --port 8080 --weights my_weights/
    python serve.py --host 0.0.0.0           # reachable from other machines (phones on the LAN)

The API is documented at /docs. It reads images exactly as vote.py does (ensemble/reading.py):
the same decoding, MNIST-style normalization and vote. Limits: --max-file-mb per file,
--max-files per request; the decompression-bomb limit is Pillow's, or $VOTE_MAX_IMAGE_PIXELS.
Uploads stay in memory; nothing a client sends is written to disk. Exit status: 1 on a usage
error (bad weights, port in use); after Ctrl-C or SIGTERM, 130 or 143 (in-flight requests are
finished first).
"""
from __future__ import annotations

import argparse
import sys


def parse_args(argv):
    from vote import PRECISIONS             # light: --help loads no torch
    ap = argparse.ArgumentParser(prog="serve.py", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:6]))
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: all)")
    ap.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0: any free port)")
    ap.add_argument("--weights", "--checkpoints", dest="weights", metavar="DIR",
                    help="folder of *.safetensors weight files (default: checkpoints/)")
    ap.add_argument("--device", default="auto", help="auto (default: the GPU if there is one), cpu, cuda, cuda:N")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="the members' arithmetic (default auto: bfloat16 where the CPU computes it natively)")
    ap.add_argument("--max-file-mb", type=float, default=10, metavar="MB", help="per uploaded file (default 10 MiB)")
    ap.add_argument("--max-files", type=int, default=100, metavar="N", help="files per request (default 100)")
    ap.add_argument("--max-batch", type=int, default=256, metavar="N",
                    help="inputs of concurrent requests voted on in one forward pass (default 256; 1: no batching)")
    ap.add_argument("--access-log", action="store_true", help="print one line per request")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        ap.error("--port must be 0..65535")
    if args.max_file_mb <= 0 or args.max_files < 1 or args.max_batch < 1:
        ap.error("--max-file-mb, --max-files and --max-batch must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return _main(args)
    except KeyboardInterrupt:           # Ctrl-C (uvicorn re-raises it after a graceful shutdown)
        print("serve.py: stopped", file=sys.stderr)
        return 130


def _main(args) -> int:
    from web.server import bind, config, url_of
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
                                                    precision=args.precision, min_agreement=None))
        max_pixels = pixel_limit_from_env()
        app = create_app(ens, max_file_bytes=int(args.max_file_mb * 2**20), max_files=args.max_files,
                         max_pixels=max_pixels, max_batch=args.max_batch)
    except (vote.UsageError, ValueError) as e:      # ValueError: WeightFileError too (the verifier's)
        print(f"serve.py: error: {e}", file=sys.stderr)
        return 1
    url = url_of(sock)
    print(f"serve.py: {len(ens)} members on {ens.device}; open {url}/ (API docs: {url}/docs); "
          "Ctrl-C to stop", file=sys.stderr, flush=True)
    if sock.getsockname()[0] in ("0.0.0.0", "::"):
        print("serve.py: listening on every network interface: other machines can reach it "
              "(use this machine's address)", file=sys.stderr)
    uvicorn.Server(config(app, args.access_log)).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
