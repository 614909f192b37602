"""The OpenAPI 3.1 description of ``gensr serve``'s HTTP API, served at ``/openapi.json``.

Written by hand (the API is small) so the server needs no schema framework.
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_IMAGE = {"schema": {"type": "string", "format": "binary"}}
_IMAGES = {
    t: _IMAGE for t in ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff")
}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _ok(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


_JOB_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def openapi_spec(version: str, *, max_upload: int, max_pixels: int) -> dict[str, Any]:
    """The description, with this server's limits written into the texts."""
    limits = f"At most {max_upload} bytes and {max_pixels} pixels (width × height) per image."
    upscale = {
        "summary": "Upscale one image",
        "description": "The image goes in a multipart form field `file`, or is the whole request body "
        "(then `name` gives its file name). The result keeps the input's format, alpha, bit depth and "
        f"metadata. {limits}",
        "parameters": [
            {"name": "model", "in": "query", "schema": {"type": "string"}, "description": "see /v1/models"},
            {
                "name": "wait",
                "in": "query",
                "schema": {"type": "boolean", "default": False},
                "description": "answer with the upscaled image instead of a job",
            },
            {
                "name": "name",
                "in": "query",
                "schema": {"type": "string"},
                "description": "raw body's file name",
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "model": {"type": "string"},
                            "wait": {"type": "boolean"},
                        },
                        "required": ["file"],
                    }
                },
                "application/octet-stream": _IMAGE,
                **_IMAGES,
            },
        },
        "responses": {
            "200": {"description": "the upscaled image (wait=true)", "content": _IMAGES},
            "202": _ok("queued; poll /v1/jobs/{id}", "#/components/schemas/Job"),
            "400": _err("malformed multipart body"),
            "404": _err("unknown model"),
            "413": _err("file larger than the server accepts"),
            "415": _err("not an image gensr reads (PNG, JPEG, WebP, GIF, BMP, TIFF)"),
            "422": _err("more pixels than the server accepts, empty, or does not decode"),
            "403": _err("a request from another site (its Origin is not this server's; see --cors)"),
            "429": _err(
                "this client has its most images waiting; retry after the Retry-After header's seconds"
            ),
            "503": _err("queue full; retry after the Retry-After header's seconds"),
        },
    }
    job = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "status": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "queue_position": {"type": ["integer", "null"], "description": "jobs ahead while queued"},
            "model": {"type": "string"},
            "scale": {"type": "integer"},
            "input": {"$ref": "#/components/schemas/ImageInfo"},
            "output": {"oneOf": [{"$ref": "#/components/schemas/ImageInfo"}, {"type": "null"}]},
            "error": {"type": ["string", "null"]},
            "seconds": {"type": ["number", "null"]},
            "result_url": {"type": "string"},
        },
    }
    image_info = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "format": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gensr",
            "version": version,
            "description": "Generative image super-resolution on this machine. Errors are JSON "
            '`{"error": "..."}`. Any request: 400 when its Host is not one of the server\'s names, 401 '
            "without the token when the server has one (`Authorization: Bearer TOKEN`). A job is seen "
            "only with the token that sent it, or the server's own.",
        },
        "security": [{"token": []}, {}],
        "paths": {
            "/v1/upscale": {"post": upscale},
            "/v1/jobs/{id}": {
                "parameters": [_JOB_ID],
                "get": {
                    "summary": "A job's status and progress",
                    "responses": {
                        "200": _ok("the job", "#/components/schemas/Job"),
                        "404": _err("unknown or expired"),
                    },
                },
                "delete": {
                    "summary": "Cancel a job and delete its files",
                    "responses": {"204": {"description": "deleted"}, "404": _err("unknown or expired")},
                },
            },
            "/v1/jobs/{id}/result": {
                "parameters": [
                    _JOB_ID,
                    {"name": "download", "in": "query", "schema": {"type": "boolean", "default": False}},
                ],
                "get": {
                    "summary": "The upscaled image",
                    "responses": {
                        "200": {"description": "the image", "content": _IMAGES},
                        "404": _err("unknown or expired"),
                        "409": _err("not finished yet, or cancelled"),
                        "422": _err("the file did not decode"),
                        "500": _err("upscaling failed"),
                    },
                },
            },
            "/v1/jobs/{id}/preview": {
                "parameters": [
                    _JOB_ID,
                    {"name": "which", "in": "query", "schema": {"enum": ["input", "result"]}},
                ],
                "get": {
                    "summary": "An 8-bit PNG of the input or the result, for browsers that cannot show TIFF",
                    "responses": {"200": {"description": "PNG", "content": {"image/png": _IMAGE}}},
                },
            },
            "/v1/results.zip": {
                "get": {
                    "summary": "Finished results in one zip",
                    "parameters": [
                        {"name": "ids", "in": "query", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "zip", "content": {"application/zip": _IMAGE}},
                        "404": _err("none finished"),
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "summary": "Models this server offers",
                    "responses": {"200": _ok("models", "#/components/schemas/Models")},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness, queue length and limits",
                    "responses": {"200": {"description": "ok"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "needed unless the server runs on loopback without --allow-host",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
                "ImageInfo": image_info,
                "Job": job,
                "Models": {
                    "type": "object",
                    "properties": {
                        "default": {"type": "string"},
                        "models": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "scale": {"type": "integer"},
                                    "arch": {"type": "string"},
                                    "default": {"type": "boolean"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
