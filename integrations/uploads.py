"""Uploaded files under a size cap: refused by their declared length before anything is read, and while they
stream to a temporary file on disk (never whole in memory), as soon as they pass the cap."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from core.errors import InvalidInput

# What a multipart body adds around the file (boundaries, part headers, a few form fields).
ENVELOPE_BYTES = 64 * 1024
TOO_LARGE = 413


class UploadTooLarge(InvalidInput):
    """An upload refused for its size (413)."""


def _too_large(what: str, limit: int) -> UploadTooLarge:
    return UploadTooLarge(f"{what}; a file may be at most {limit:,} bytes. Split it into smaller files.",
                          status_code=TOO_LARGE)


class CappedUploadHandler(TemporaryFileUploadHandler):
    """Streams the upload to a temporary file and stops it (413) at the first chunk past `limit` bytes."""

    def __init__(self, request: HttpRequest | None = None, *, limit: int) -> None:
        super().__init__(request)
        self.limit = limit

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.limit:
            self.file.close()  # the temporary file is deleted with it
            raise _too_large(f"The file is larger than {self.limit:,} bytes", self.limit)
        return super().receive_data_chunk(raw_data, start)


def upload_cap(request: HttpRequest, *, limit: int) -> None:
    """Refuse a body whose declared length cannot hold a file of at most `limit` bytes, and make the file
    stream to disk under the cap. Call before anything reads the body (a form, the CSRF check, a parser)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0  # Django reads a body of unknown length as empty
    if length > limit + ENVELOPE_BYTES:
        raise _too_large(f"The upload is {length:,} bytes", limit)
    request.upload_handlers = [CappedUploadHandler(request, limit=limit)]


def upload_capped(*, limit: Callable[[], int], refused: Callable[..., HttpResponse]) -> Callable:
    """Decorate a page view that takes an uploaded file: a POST's upload is capped at `limit()` bytes before
    anything reads its body, so the CSRF check (which reads it) runs after the cap is set, within the view. An
    upload refused for its size is answered by `refused(request, error, *args, **kwargs)`."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        protected = csrf_protect(view)

        @wraps(view)
        def capped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method != "POST":
                return protected(request, *args, **kwargs)
            try:
                upload_cap(request, limit=limit())
                return protected(request, *args, **kwargs)
            except UploadTooLarge as error:
                return refused(request, error, *args, **kwargs)

        return csrf_exempt(capped)

    return decorate
