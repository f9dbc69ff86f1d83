"""Images from an HTTP request body, read as it streams in, with limits; kept in memory only.

Two forms (POST /api/vote):
- multipart/form-data: every part with a filename is an image (any field name; `files` in the
  docs); other fields are ignored but bounded;
- anything else: the whole body is one image (its name from ?name=, else "upload").

Limits are checked while the bytes arrive: a declared Content-Length over the limit is refused
before a byte is read, and a body that keeps coming (chunked, or lying about its length) is
refused at the first byte past the limit; nothing is ever buffered beyond it. Nothing touches
the disk: no temporary files, no client-supplied path is ever opened (a file name is a label).
"""
from __future__ import annotations

from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELDS = 32                  # non-file multipart fields (ignored) ...
MAX_FIELD_BYTES = 64 * 1024      # ... and their size each
MAX_NAME_CHARS = 255             # longer file names are shortened (they are labels only)
PART_OVERHEAD = 16 * 1024        # boundary + headers of one part, for the Content-Length bound


class UploadError(Exception):
    """A request the API refuses as a whole: HTTP `status` with a one-line `detail`."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class Upload:
    name: str
    data: bytes


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n} bytes"


def _label(raw: bytes | str) -> str:
    name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS - 1] + "…"


def declared_length(headers) -> int | None:
    raw = headers.get("content-length")
    if raw is None:
        return None
    try:
        n = int(raw)
    except ValueError:
        raise UploadError(400, f"bad Content-Length header {raw[:40]!r}") from None
    if n < 0:
        raise UploadError(400, f"bad Content-Length header {raw[:40]!r}")
    return n


async def read_images(request, max_file_bytes: int, max_files: int, name: str | None = None) -> list[Upload]:
    """The request's images, in order. Raises UploadError (400 malformed, 413 over a limit)."""
    ctype, opts = parse_options_header(request.headers.get("content-type", ""))
    declared = declared_length(request.headers)
    if ctype == b"multipart/form-data":
        boundary = opts.get(b"boundary")
        if not boundary:
            raise UploadError(400, "multipart/form-data without a boundary")
        bound = max_files * (max_file_bytes + PART_OVERHEAD) + MAX_FIELDS * (MAX_FIELD_BYTES + PART_OVERHEAD)
        if declared is not None and declared > bound:
            raise UploadError(413, f"request body of {_mib(declared)} is over the limit "
                                   f"({max_files} files of at most {_mib(max_file_bytes)} each)")
        return await _multipart(request.stream(), boundary, max_file_bytes, max_files)
    if declared is not None and declared > max_file_bytes:
        raise UploadError(413, f"image of {_mib(declared)} is over the limit of {_mib(max_file_bytes)} per file")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > max_file_bytes:
            raise UploadError(413, f"image is over the limit of {_mib(max_file_bytes)} per file")
    return [Upload(_label(name or "upload"), bytes(data))]


class _Parts:
    """python-multipart callbacks: collect file parts, enforce the limits as data arrives."""

    def __init__(self, max_file_bytes: int, max_files: int):
        self.max_file_bytes, self.max_files = max_file_bytes, max_files
        self.files: list[Upload] = []
        self.fields = 0
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._hname = self._hvalue = b""
        self._data = bytearray()
        self._file: str | None = None          # the current part's file name; None for a field

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_part_data": self.part_data,
                "on_part_end": self.part_end, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_end": self.end}

    def part_begin(self):
        self._headers, self._data, self._file = {}, bytearray(), None

    def header_field(self, data, start, end):
        self._hname += data[start:end]

    def header_value(self, data, start, end):
        self._hvalue += data[start:end]

    def header_end(self):
        self._headers[self._hname.strip().lower()] = self._hvalue.strip()
        self._hname = self._hvalue = b""

    def headers_finished(self):
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"filename" in opts:
            if len(self.files) >= self.max_files:
                raise UploadError(413, f"more than {self.max_files} files in one request")
            self._file = _label(opts[b"filename"]) or f"file{len(self.files) + 1}"
        else:
            self.fields += 1
            if self.fields > MAX_FIELDS:
                raise UploadError(413, f"more than {MAX_FIELDS} non-file form fields")

    def part_data(self, data, start, end):
        self._data += data[start:end]
        limit = self.max_file_bytes if self._file is not None else MAX_FIELD_BYTES
        if len(self._data) > limit:
            what = f"file {self._file!r}" if self._file is not None else "a form field"
            raise UploadError(413, f"{what} is over the limit of {_mib(limit)}")

    def part_end(self):
        if self._file is not None:
            self.files.append(Upload(self._file, bytes(self._data)))
        self._data = bytearray()

    def end(self):
        self.ended = True


async def _multipart(stream, boundary: bytes, max_file_bytes: int, max_files: int) -> list[Upload]:
    parts = _Parts(max_file_bytes, max_files)
    try:
        parser = MultipartParser(boundary, parts.callbacks())
        async for chunk in stream:
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except ValueError as e:                  # python-multipart's parse errors are ValueErrors
        raise UploadError(400, f"malformed multipart body ({' '.join(str(e).split())[:200]})") from None
    if not parts.ended:
        raise UploadError(400, "malformed multipart body (it ends before its closing boundary)")
    if not parts.files:
        raise UploadError(400, "no file in the multipart body: send each image as a file part, "
                               "e.g. curl -F files=@digit.png")
    return parts.files
