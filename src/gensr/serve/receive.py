"""Receiving an upload for ``gensr serve``: the body read once as chunks, within the size limit.

Multipart bodies give the first file field and the text fields; any other body is the image itself.
A refused upload is still read up to :data:`DRAIN_MAX` bytes, so that the client reads the answer
instead of a reset connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from gensr.serve.uploads import UploadError, safe_name

MULTIPART_SLACK = 64 * 1024
"""Bytes of multipart framing and form fields allowed on top of the file size limit."""
DRAIN_MAX = 256 * 2**20
"""Bytes of a refused upload still read (and dropped) so that the client sees the answer, not a reset."""


class Body:
    """The request body, read once as chunks; knows whether it was read to its end."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.complete = False

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        while not self.complete:
            message = await self.request.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            self.complete = not message.get("more_body", False)
            if message.get("body"):
                yield message["body"]

    async def limited(self, most: int, limit: int) -> AsyncGenerator[bytes, None]:
        """The chunks; raises 413 (naming ``limit``) once more than ``most`` bytes came."""
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > most:
                raise too_big_error(limit)
            yield chunk

    async def drain(self, most: int = DRAIN_MAX) -> None:
        """Read and drop the rest (up to ``most`` bytes), so that the client reads our answer."""
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > most:
                return


async def receive(request: Request, body: Body, dst: Path, limit: int) -> tuple[str, dict[str, str]]:
    """Write the uploaded file to ``dst``; returns (safe file name, other form fields).

    Multipart bodies give the first file field (``file`` preferred) and the text fields; any other
    body is the image itself (whatever its content type: ``curl --data-binary`` says form-urlencoded),
    named by the ``name`` query parameter.
    """
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        return await _receive_multipart(request, body, dst, limit)
    with dst.open("wb") as f:
        async for chunk in body.limited(limit, limit):
            f.write(chunk)
    return safe_name(request.query_params.get("name")), {}


async def _receive_multipart(
    request: Request, body: Body, dst: Path, limit: int
) -> tuple[str, dict[str, str]]:
    parser = MultiPartParser(
        request.headers, body.limited(limit + MULTIPART_SLACK, limit), max_files=1, max_fields=16
    )
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise UploadError(400, f"malformed multipart upload: {e.message}") from None
    try:
        files = [v for k, v in form.multi_items() if isinstance(v, UploadFile)]
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        if not files:
            raise UploadError(422, 'no file in the upload: send the image in a form field named "file"')
        upload = files[0]
        size = 0
        with dst.open("wb") as f:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise too_big_error(limit)
                f.write(chunk)
        return safe_name(upload.filename), fields
    finally:
        await form.close()


def too_big_error(limit: int) -> UploadError:
    return UploadError(
        413,
        f"the file is larger than this server accepts ({limit / 2**20:.0f} MiB; gensr serve --max-upload-mb)",
    )
