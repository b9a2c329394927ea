"""Uploaded images: read while streaming with a size limit, kept in memory only, decoded safely.

:func:`read_uploads` takes a request body apart — ``multipart/form-data`` (what a browser form or
``curl -F file=@cat.jpg`` sends) or a raw image body (``Content-Type: image/*``) — and refuses it with 413
as soon as a file passes the limit: the announced ``Content-Length`` is checked before anything is read,
and the bytes are counted as they arrive, so an oversized upload is never read to its end. Files are
collected in memory (``bytes``); nothing is spooled to disk.

:func:`decode_upload` turns the bytes into an 8-bit RGB picture the way
:func:`lookalike.images.load_image` reads a file: the same Pillow formats, the same decompression-bomb
limit checked from the header before any pixel is decoded, EXIF orientation, and the same conversion of
pixel modes, so an uploaded copy of an indexed image gets the same vector.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lookalike.errors import ImageError
from lookalike.formats import RAW, format_of, missing_reader, pillow_formats, readable_names, sniff
from lookalike.images import (
    _DRAFT_FORMATS,
    _ORIENTATION_TAG,
    _SWAPS_SIDES,
    MAX_PIXELS_ENV,
    _pillow_check_off,
    _pillow_limit_lock,
    _pixel_limit,
    _to_rgb,
    looks_like_text,
)
from lookalike.raw import load_raw
from lookalike.units import format_bytes

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Upload", "UploadError", "decode_upload", "human_bytes", "read_uploads"]

#: Bytes a form may carry beyond its files (boundaries, part headers, small fields).
FORM_OVERHEAD = 64 * 1024
#: Parts a form may have, files and fields together.
MAX_PARTS = 8
#: Bytes of one text field.
MAX_FIELD = 1024


class UploadError(Exception):
    """A request whose upload cannot be taken: ``status`` is the HTTP status, the message one line."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Upload:
    """One uploaded file, in memory: the form field it came in, the name the client gave it, its bytes."""

    field: str
    filename: str
    content_type: str
    data: bytes = b""
    size: tuple[int, int] | None = None  # width × height as stored, once decoded

    @property
    def label(self) -> str:
        """How messages name it: ``upload 'cat.jpg'``."""
        name = self.filename.replace("\n", " ").replace("\r", " ")[:80]
        return f"upload {name!r}" if name else f"upload in field {self.field!r}"


human_bytes = format_bytes  # the name uploads exported before lookalike.units


def _too_large(what: str, limit: int) -> UploadError:
    # A visitor of the page reads this: it names no command-line flag (whoever runs the server knows it).
    return UploadError(
        413,
        f"{what} is larger than the upload limit of {human_bytes(limit)}; send a smaller image, or start "
        "the server with a larger upload limit",
    )


# the python-multipart callbacks that _Form defines, by name
_CALLBACKS = (
    "on_part_begin",
    "on_part_data",
    "on_part_end",
    "on_header_field",
    "on_header_value",
    "on_header_end",
    "on_headers_finished",
)


@dataclass
class _Form:
    """A streaming multipart parser that keeps file parts in memory and stops at the first limit passed."""

    files: Sequence[str]
    limit: int
    uploads: dict[str, Upload] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    parts: int = 0
    _header_name: bytes = b""
    _header_value: bytes = b""
    _disposition: bytes = b""
    _content_type: bytes = b""
    _name: str | None = None
    _filename: str = ""
    _buffer: bytearray = field(default_factory=bytearray)
    _is_file: bool = False

    def callbacks(self) -> dict[str, object]:
        """The parser's callbacks: the methods of the same names."""
        return {name: getattr(self, name) for name in _CALLBACKS}

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadError(422, f"the form has more than {MAX_PARTS} parts; send only the image field(s)")
        self._disposition = self._content_type = b""
        self._name, self._filename, self._is_file = None, "", False
        self._buffer = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self._header_name.strip().lower()
        if name == b"content-disposition":
            self._disposition = self._header_value
        elif name == b"content-type":
            self._content_type = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._disposition)
        raw_name = options.get(b"name")
        if raw_name is None:
            raise UploadError(422, "a form part has no name; send the image in the field 'file'")
        self._name = raw_name.decode("utf-8", "replace")
        self._filename = options.get(b"filename", b"").decode("utf-8", "replace")
        self._is_file = self._name in self.files
        if self._is_file and self._name in self.uploads:
            raise UploadError(422, f"the form has two parts named {self._name!r}; send one image per field")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._buffer += data[start:end]
        if self._is_file:
            if len(self._buffer) > self.limit:
                label = Upload(self._name or "", self._filename, "").label
                raise _too_large(label, self.limit)
        elif len(self._buffer) > MAX_FIELD:
            raise UploadError(422, f"the form field {self._name!r} is longer than {MAX_FIELD} bytes")

    def on_part_end(self) -> None:
        assert self._name is not None
        if self._is_file:
            content_type = self._content_type.decode("latin-1", "replace").strip()
            self.uploads[self._name] = Upload(self._name, self._filename, content_type, bytes(self._buffer))
        else:
            self.fields[self._name] = self._buffer.decode("utf-8", "replace")
        self._buffer = bytearray()


async def read_uploads(
    headers: Mapping[str, str],
    stream: AsyncIterator[bytes],
    *,
    files: Sequence[str],
    limit: int,
) -> dict[str, Upload]:
    """The files of a request body, by form field: ``files`` names the fields that may carry one.

    ``headers`` are the request headers (lower-case names), ``stream`` the body's chunks as they
    arrive. A ``multipart/form-data`` body gives each named file part; an ``image/*`` or
    ``application/octet-stream`` body is the file of the first field; no body at all gives none. Other
    fields are ignored. Raises
    :class:`UploadError`: 413 once a file passes ``limit`` bytes (or the body passes the room for
    ``len(files)`` of them), 415 for another content type, 422 for a malformed form or an empty file.
    """
    get = headers.get
    content_type = str(get("content-type") or "")
    media = content_type.split(";", 1)[0].strip().lower()
    is_form = media == "multipart/form-data"
    if not media:  # no body at all is fine where every image may come as an id instead
        async for chunk in stream:
            if chunk:
                raise UploadError(
                    415,
                    f"the request body has no Content-Type; send multipart/form-data with the image in "
                    f"the field {files[0]!r}, or the image itself with Content-Type image/*",
                )
        return {}
    if not is_form and not (media.startswith("image/") or media == "application/octet-stream"):
        raise UploadError(
            415,
            f"cannot read an upload sent as {media or 'no content type'!r}; send multipart/form-data with "
            f"the image in the field {files[0]!r}, or the image itself with Content-Type image/*",
        )
    room = limit * (len(files) if is_form else 1) + (FORM_OVERHEAD if is_form else 0)
    announced = get("content-length")
    if announced is not None:
        try:
            size = int(announced)
        except ValueError:
            raise UploadError(400, f"Content-Length {announced!r} is not a number of bytes") from None
        if size > room:
            raise _too_large("the request body" if is_form else "the upload", limit)
    received = 0
    if not is_form:
        body = bytearray()
        async for chunk in stream:
            received += len(chunk)
            if received > room:
                raise _too_large("the upload", limit)
            body += chunk
        if not body:
            raise UploadError(422, "the upload is empty (0 bytes); send an image file")
        return {files[0]: Upload(files[0], "", media, bytes(body))}

    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(422, "the multipart/form-data body has no boundary in its Content-Type")
    form = _Form(files, limit)
    try:
        parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
        async for chunk in stream:
            received += len(chunk)
            if received > room:
                raise _too_large("the request body", limit)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        reason = (str(exc).splitlines() or ["malformed"])[0][:120]
        raise UploadError(422, f"the multipart/form-data body is malformed ({reason})") from None
    for upload in form.uploads.values():
        if not upload.data:
            raise UploadError(422, f"{upload.label} is empty (0 bytes); send an image file")
    return form.uploads


def pixel_limit(max_pixels: int | None) -> int | None:
    """The decompression-bomb limit in force: ``max_pixels``, else what :func:`load_image` uses."""
    if max_pixels is not None:
        return max_pixels
    return _pixel_limit(None)[0]


def decode_upload(
    upload: Upload, *, max_pixels: int | None = None, draft: tuple[int, int] | None = None
) -> Image.Image:
    """The upload as an 8-bit RGB image, read as :func:`lookalike.images.load_image` reads files.

    ``max_pixels`` (default: :func:`load_image`'s limit) refuses larger images from their header, before
    a pixel is decoded; ``draft`` lets a JPEG decode at a reduced scale no smaller than that. Raises
    :class:`UploadError` 422 with one line saying what is wrong.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    # The readers, the bomb guard and the mode conversion of lookalike.images, so that an upload and
    # an indexed file become the same pixels (load_image itself opens paths only).
    label = upload.label
    limit = pixel_limit(max_pixels)
    if format_of(upload.filename) is RAW:
        return _decode_raw(upload, limit, draft)
    try:
        with warnings.catch_warnings(), _pillow_check_off():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(upload.data), formats=pillow_formats())
    except UnidentifiedImageError:
        head = upload.data[:512]
        fmt = sniff(head) or format_of(upload.filename)
        hint = missing_reader(fmt) if fmt is not None else None
        if hint is not None:
            raise UploadError(422, f"{label}: {hint}") from None
        what = "it looks like text" if looks_like_text(head) else f"it starts with bytes {head[:8].hex(' ')}"
        raise UploadError(
            422, f"{label} is not an image lookalike can read ({what}); send a {readable_names()} file"
        ) from None
    except Exception as exc:  # Pillow reports damaged headers with many exception types
        raise _damaged(label, exc) from None
    width, height = img.size
    upload.size = (width, height)
    if limit is not None and width * height > limit:
        raise UploadError(
            422,
            f"{label} is {width}×{height} = {width * height:,} pixels, over the limit of {limit:,} "
            "(a possible decompression bomb); send a smaller image",
        )
    try:
        if draft is not None and img.format in _DRAFT_FORMATS:
            img.draft("RGB", draft)
        with _pillow_limit_lock:
            pillow_limit = Image.MAX_IMAGE_PIXELS
        # Pillow re-checks while decoding some formats: off only where lookalike's own limit let more in.
        check_off = pillow_limit is not None and width * height > pillow_limit
        with warnings.catch_warnings(), _pillow_check_off(check_off):
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
    except Exception as exc:
        raise _damaged(label, exc) from None
    with suppress(Exception):  # damaged EXIF: keep the pixels as stored, as load_image does
        if int(img.getexif().get(_ORIENTATION_TAG, 1)) in _SWAPS_SIDES:
            upload.size = (height, width)
        ImageOps.exif_transpose(img, in_place=True)
    try:
        return _to_rgb(img, Path(label))
    except ImageError as exc:
        raise UploadError(422, str(exc)) from None


def _decode_raw(upload: Upload, limit: int | None, draft: tuple[int, int] | None) -> Image.Image:
    """A camera RAW upload, read from memory as :func:`lookalike.raw.load_raw` reads a file."""
    try:
        img = load_raw(Path(upload.label), draft=draft, limit=limit, where=MAX_PIXELS_ENV, data=upload.data)
    except ImageError as exc:
        raise UploadError(422, str(exc)) from None
    upload.size = img.info["source_size"]
    return img


def _damaged(label: str, exc: Exception) -> UploadError:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
    if isinstance(exc, EOFError) or "truncated" in reason.lower():
        return UploadError(
            422, f"{label}: the image data is truncated (the file ends early); send the whole file"
        )
    return UploadError(422, f"{label}: the image data is corrupt ({reason}); send another file")
