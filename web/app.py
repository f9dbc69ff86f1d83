"""The HTTP API and the page, on the same reading path as vote.py (ensemble.reading).

    from web import create_app
    app = create_app()                       # checkpoints/, GPU if present; or create_app(ensemble=ens)
    # python serve.py runs it with uvicorn on http://127.0.0.1:8000

Endpoints (documented at /docs, schema at /openapi.json):
  POST /api/vote         one or many images (multipart files, or one raw image body) -> rows
                         with the fields of `vote.py --format json`; ?probs=true adds each
                         member's probabilities, ?image=true the 28x28 input as base64 PNG;
                         ?mode=number reads each image as a number (`vote.py --number`)
  GET  /api/members      the members' metadata          GET /api/health   liveness + counters
  GET  /api/distortion   DistortionConfig's fields and bounds, each member's training distortion
  POST /api/distort      generators.distort applied to an image, with the ensemble's votes
  POST /api/features     feature maps of a member's first convolution layers, as pictures
  GET  /                 the page (static/: plain HTML, CSS, JS modules; nothing from a CDN)

Uploads are decoded in memory (web.uploads enforces the size limits while streaming) and read
by `ensemble.batching.Batcher`: each request is prepared in a worker thread, and concurrent
requests share forward passes. Bad images give rows with a status, as in vote.py; malformed or
oversized requests get a JSON error (400/413/422); nothing a client sends gives a 500.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
import math
import re
from contextlib import asynccontextmanager
from dataclasses import fields
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from . import models
from .uploads import UploadError, read_images

STATIC = Path(__file__).resolve().parent / "static"
MAX_FILE_BYTES = 10 * 2**20
MAX_FILES = 100
MAX_JSON_BYTES = 16 * 2**20          # bodies of the JSON endpoints (a base64 image of 10 MiB fits)
log = logging.getLogger("digit_ensemble.web")
# The page loads nothing but its own files (no CDN, no inline script) and talks only to this server.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_VOTE_BODY = {"content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {"files": {
        "type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1,
        "description": "one or more images (PNG, JPEG, BMP, GIF, TIFF, WebP); any part with a "
                       "filename counts, whatever its field name"}}}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary",
                                            "description": "one raw image (any format Pillow reads)"}}},
    "required": True}
_ERRORS = {400: {"model": models.Error, "description": "malformed request"},
           413: {"model": models.Error, "description": "over a size limit"},
           422: {"model": models.Error, "description": "invalid parameters"}}


# ---- helpers --------------------------------------------------------------------------------
def png_b64(a: np.ndarray) -> str:
    """uint8 (H, W) or (H, W, 3) -> base64 PNG."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _nice_step(span: float) -> float:
    """A 1-2-5 step giving ~200 positions over `span`."""
    raw = span / 200 if span > 0 else 1.0
    p = 10 ** math.floor(math.log10(raw))
    return next(m * p for m in (1, 2, 5, 10) if m * p >= raw)


def distortion_fields() -> list[models.DistortionField]:
    """Sliders for every DistortionConfig field, from its dataclass fields, bounds and docstring,
    so that fields added to the generator appear in the page by themselves."""
    from generators import DistortionConfig
    doc = {m.group(1): " ".join(m.group(2).split())
           for m in re.finditer(r"^\s*(\w+):\s+(.+(?:\n\s{4,}(?!\w+:)\S.*)*)", DistortionConfig.__doc__ or "", re.M)}
    default = DistortionConfig()
    out = []
    for f in fields(DistortionConfig):
        lo, hi = DistortionConfig._BOUNDS[f.name][:2]
        integer = f.type in (int, "int")
        out.append(models.DistortionField(
            name=f.name, label=f.name.replace("_", " "), help=doc.get(f.name, ""),
            default=float(getattr(default, f.name)), min=float(lo), max=float(hi),
            step=1.0 if integer else _nice_step(hi - lo), integer=integer))
    return out


class BodyLimit:
    """ASGI middleware: refuse request bodies over `limit` bytes with 413, while they stream
    (Content-Length checked first). Paths in `own` enforce their own limits (uploads)."""

    def __init__(self, app, limit: int, own: tuple[str, ...] = ()):
        self.app, self.limit, self.own = app, limit, own

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.own:
            return await self.app(scope, receive, send)
        detail = f"request body is over the limit of {self.limit // 2**20} MiB"
        for k, v in scope.get("headers", ()):
            if k == b"content-length" and v.isdigit() and int(v) > self.limit:
                return await JSONResponse({"detail": detail}, 413)(scope, receive, send)
        seen, started, over = 0, False, False

        async def limited_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    raise _TooLarge()
            return message

        async def guarded_send(message):
            # the app may catch the refusal (FastAPI turns body errors into a 400): answer 413 anyway
            nonlocal started
            if over:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await JSONResponse({"detail": detail}, 413)(scope, receive, send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                await JSONResponse({"detail": detail}, 413)(scope, receive, send)


class _TooLarge(Exception):
    pass


# ---- the app ---------------------------------------------------------------------------------
class Service:
    """What the endpoints share: the ensemble, the batcher and the limits."""

    def __init__(self, ensemble, max_file_bytes: int, max_files: int, max_pixels: int | None,
                 max_batch: int):
        from ensemble.batching import Batcher
        from ensemble.reading import Reader
        self.ensemble = ensemble
        self.max_file_bytes, self.max_files = max_file_bytes, max_files
        from ensemble.numbers import NumberMode
        keep = dict(max_pixels=max_pixels, keep_images=True, keep_probs=True)
        self.batcher = Batcher(Reader(ensemble, **keep), max_batch=max_batch)
        # ?mode=number: the reading path of `vote.py --number` (one batcher per mode: a forward
        # pass votes on one mode's inputs)
        numbers = NumberMode(class_names=ensemble.class_names)
        numbers.load_verifier()         # a missing or broken verifier file: an error now, not a 500 later
        numbers.load_pair_reader()      # ... and the pair reader's
        self.number_batcher = Batcher(Reader(ensemble, mode=numbers, **keep), max_batch=max_batch)

    def batcher_for(self, mode: models.ReadMode):
        return self.number_batcher if mode == models.ReadMode.number else self.batcher

    def close(self) -> None:
        self.batcher.close()
        self.number_batcher.close()

    def image28(self, b64: str) -> np.ndarray:
        """A base64 image from a JSON body -> the 28x28 the networks see (normalized like an upload)."""
        from ensemble.reading import Item
        try:
            data = base64.b64decode(b64.partition(",")[2] if b64.startswith("data:") else b64, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPException(422, "image: not valid base64") from None
        if len(data) > self.max_file_bytes:
            raise HTTPException(413, f"image: over the limit of {self.max_file_bytes // 2**20} MiB")
        p = self.batcher.prepare([Item("image", data=data)])[0]
        if p.status != "ok":
            raise HTTPException(422, f"image: {p.status}")
        return p.images[0]                                                   # uint8 (28, 28)


def create_app(ensemble=None, *, weights=None, device: str = "auto", precision: str = "auto",
               max_file_bytes: int = MAX_FILE_BYTES,
               max_files: int = MAX_FILES, max_pixels: int | None = None, max_batch: int = 256) -> FastAPI:
    """The FastAPI app. `ensemble`: a loaded `Ensemble` (else loaded from `weights` on `device`, its
    members' arithmetic `precision`: auto, as serve.py, is bfloat16 where the CPU computes it natively).
    max_pixels: the decompression-bomb limit (None: Pillow's, or $VOTE_MAX_IMAGE_PIXELS as in vote.py)."""
    from fastapi_offline import FastAPIOffline

    from ensemble.reading import pixel_limit_from_env
    if ensemble is None:
        from ensemble.inference import Ensemble
        ensemble = Ensemble(weights, device=device, precision=precision)
    if max_pixels is None:
        max_pixels = pixel_limit_from_env()
    svc = Service(ensemble, max_file_bytes, max_files, max_pixels, max_batch)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        svc.close()

    app = FastAPIOffline(
        title="digit-ensemble", version="0.1.0", lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None, "defaultModelsExpandDepth": 0},
        description="Five CNNs vote on handwritten digits. The same reading path as `vote.py`: "
                    "decode, MNIST-style normalization, the members' vote. Limits: "
                    f"{max_file_bytes / 2**20:g} MiB per file, {max_files} files per request.")
    app.state.service = svc
    app.add_middleware(BodyLimit, limit=MAX_JSON_BYTES, own=("/api/vote",))

    @app.exception_handler(UploadError)
    async def upload_error(_request, e: UploadError):
        return JSONResponse({"detail": e.detail}, e.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, e: RequestValidationError):
        # one line per problem; never echoes the (possibly binary) input back
        parts = [f"{'.'.join(str(x) for x in err.get('loc', ()) if x != 'body') or 'body'}: {err.get('msg', 'invalid')}"
                 for err in e.errors()]
        return JSONResponse({"detail": "; ".join(parts)[:2000] or "invalid request"}, 422)

    @app.exception_handler(Exception)
    async def unexpected(request, e: Exception):          # a bug, never the client's fault: log it
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error (logged on the server)"}, 500)

    ens = ensemble
    class_names, member_names = ens.class_names, ens.member_names

    # ---- reading ------------------------------------------------------------------------
    @app.post("/api/vote", response_model=models.VoteResponse, responses=_ERRORS, openapi_extra={"requestBody": _VOTE_BODY},
              summary="Read one or many images", tags=["reading"])
    async def vote(request: Request,
                   probs: bool = Query(False, description="add each member's probabilities (member_probs)"),
                   image: bool = Query(False, description="add the 28x28 network input as base64 PNG (image_png)"),
                   min_agreement: int | None = Query(None, ge=0, le=len(ens),
                                                     description="review=yes below this many agreeing members"),
                   name: str | None = Query(None, max_length=255, description="the name of a raw-body image"),
                   mode: models.ReadMode = Query(models.ReadMode.digit, description=(
                       "digit: each image holds one digit (rows as `vote.py --format json`); number: "
                       "each image holds a number, read digit by digit (rows as `vote.py --number --format json`, "
                       "with each digit's box; ?probs and ?image then apply to every digit)"))):
        """Send images as multipart files (`curl -F files=@a.png -F files=@b.jpg`) or one image as
        the raw body (`curl --data-binary @a.png -H 'Content-Type: image/png'`). One row per
        image, in order, with the fields of `vote.py --format json` (`vote.py --number --format json`
        with ?mode=number); an image that cannot be read gets a row whose `status` says why."""
        from ensemble.reading import Item
        try:
            uploads = await read_images(request, svc.max_file_bytes, svc.max_files, name)
        except ClientDisconnect:
            return Response(status_code=400)              # nobody is listening any more
        items = [Item(u.name, data=u.data) for u in uploads]
        del uploads
        batcher = svc.batcher_for(mode)
        prepared = await run_in_threadpool(batcher.prepare, items)
        readings = await asyncio.wrap_future(batcher.submit(items, prepared))
        record = number_row if mode == models.ReadMode.number else digit_row
        rows = [record(r, min_agreement, probs, image) for r in readings]
        return JSONResponse({"members": member_names, "class_names": class_names, "mode": mode.value,
                             "images": rows})

    def digit_row(r, min_agreement, probs, image) -> dict:
        from ensemble.reading import row_record
        row = row_record(r, class_names, member_names, min_agreement, include_probs=probs)
        if image:
            row["image_png"] = png_b64(r.image) if r.image is not None else None
        return row

    def number_row(r, min_agreement, probs, image) -> dict:
        from ensemble.numbers import number_record
        from ensemble.reading import member_probs_record
        row = number_record(r, class_names, member_names, min_agreement)
        if row["digits"] and (probs or image):
            # the Reader keeps the chosen digits' inputs (K, 28, 28) and probabilities (M, K, C),
            # in the order of row["digits"] (K = 1 gives (28, 28) and (M, C))
            imgs = None if r.image is None else r.image.reshape(-1, 28, 28)
            p = None if r.probs is None else r.probs.reshape(len(member_names), -1, len(class_names))
            for k, d in enumerate(row["digits"]):
                if probs:
                    d["member_probs"] = None if p is None else member_probs_record(p[:, k], member_names)
                if image:
                    d["image_png"] = None if imgs is None else png_b64(imgs[k])
        return row

    @app.get("/api/members", response_model=models.MembersResponse, tags=["ensemble"])
    def members():
        """Every member's name, architecture, size, training distortion and recorded metrics."""
        out = []
        for name, meta, net, f in zip(member_names, ens.metas, ens.nets, ens.files):
            out.append(models.Member(
                name=name, arch=meta["arch"], arch_args=meta["arch_args"], file=Path(f).name,
                parameters=sum(p.numel() for p in net.parameters()), distortion=meta.get("distortion"),
                train=meta.get("train"), metrics=meta.get("metrics")))
        return models.MembersResponse(class_names=class_names, input=ens.input_spec,
                                      device=str(ens.device), precision=ens.precision, members=out)

    @app.get("/api/health", response_model=models.Health, tags=["ensemble"])
    def health():
        return models.Health(members=len(ens), device=str(ens.device), precision=ens.precision,
                             forward_passes=svc.batcher.passes, images_voted=svc.batcher.inputs,
                             max_file_bytes=svc.max_file_bytes, max_files=svc.max_files)

    # ---- looking inside -----------------------------------------------------------------
    @app.get("/api/distortion", response_model=models.DistortionSpec, tags=["inside"])
    def distortion_spec():
        """The distortion generator's parameters (for sliders) and each member's training setting."""
        return models.DistortionSpec(fields=distortion_fields(),
                                     members={n: m.get("distortion") or {} for n, m in zip(member_names, ens.metas)})

    @app.post("/api/distort", response_model=models.DistortResponse, responses=_ERRORS, tags=["inside"])
    def distort(req: models.DistortRequest):
        """`generators.distort` (elastic field + affine) applied `count` times to the image, as in
        training, and the ensemble's vote on every distorted sample."""
        import torch
        from torchvision.utils import make_grid

        from generators import DistortionConfig
        from generators import distort as apply
        try:
            cfg = DistortionConfig.from_dict({**DistortionConfig().to_dict(), **req.config})
        except (TypeError, ValueError) as e:
            raise HTTPException(422, f"config: {e}") from None
        img = svc.image28(req.image)
        x = torch.from_numpy(img).float().div(255).expand(req.count, 1, 28, 28).contiguous()   # (N, 1, 28, 28)
        y = apply(x, cfg, torch.Generator().manual_seed(req.seed))                           # (N, 1, 28, 28)
        v = ens.predict(y)
        u8 = y.mul(255).round().to(torch.uint8)
        grid = make_grid(u8, nrow=math.ceil(math.sqrt(req.count)), padding=2, pad_value=96)    # (3, H, W)
        samples = [models.DistortedSample(png=png_b64(u8[i, 0].numpy()), prediction=int(v.prediction[i]),
                                          class_name=class_names[int(v.prediction[i])],
                                          agreement=int(v.agreement[i])) for i in range(req.count)]
        return models.DistortResponse(config=cfg.to_dict(), seed=req.seed, image_png=png_b64(img),
                                      grid_png=png_b64(grid.permute(1, 2, 0).numpy()), samples=samples)

    @app.post("/api/features", response_model=models.FeaturesResponse, responses=_ERRORS, tags=["inside"])
    def features(req: models.FeaturesRequest):
        """Feature maps of the member's first convolution layers for the image: one tile per
        channel, ReLU(conv), BatchNorm folded, all tiles of a layer on one scale."""
        from ensemble.features import conv_feature_maps, feature_grid
        if req.member not in member_names:
            raise HTTPException(422, f"member: unknown {req.member[:80]!r}; members: {', '.join(member_names)}")
        img = svc.image28(req.image)
        layers = []
        for fm in conv_feature_maps(ens, req.member, img, req.layers):
            buf = io.BytesIO()
            feature_grid(fm.maps).save(buf, "PNG")
            layers.append(models.FeatureLayer(
                name=fm.name, module=fm.module, kernel=list(fm.kernel), channels=fm.maps.shape[0],
                size=list(fm.maps.shape[1:]), png=base64.b64encode(buf.getvalue()).decode("ascii")))
        return models.FeaturesResponse(member=req.member, image_png=png_b64(img), layers=layers)

    # ---- the page -----------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
