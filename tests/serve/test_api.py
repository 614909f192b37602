"""The HTTP API of ``gensr serve`` against a real uvicorn server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from gensr.serve.jobs import ModelEntry

httpx = pytest.importorskip("httpx")

MAX_UPLOAD = 200_000  # conftest.MAX_UPLOAD
MAX_PIXELS = 160 * 160  # conftest.MAX_PIXELS


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[Any]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def encode(arr: np.ndarray, fmt: str = "PNG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def noise(h: int, w: int, c: int = 3) -> np.ndarray:
    return np.random.default_rng(h * w * c).integers(0, 256, (h, w, c) if c > 1 else (h, w)).astype(np.uint8)


def wait_for(client: Any, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_healthz_models_and_openapi(client: Any) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["default_model"] == "tiny-x4"
    assert health["limits"] == {"max_upload_bytes": MAX_UPLOAD, "max_pixels": MAX_PIXELS}
    models = client.get("/v1/models").json()
    assert models["default"] == "tiny-x4"
    assert [(m["name"], m["scale"], m["default"]) for m in models["models"]] == [
        ("tiny-x4", 4, True),
        ("gensr-x4", 4, False),
    ]
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/v1/upscale", "/v1/jobs/{id}", "/v1/jobs/{id}/result", "/v1/models", "/healthz"} <= set(
        spec["paths"]
    )
    assert {"200", "202", "413", "415", "422", "503"} <= set(
        spec["paths"]["/v1/upscale"]["post"]["responses"]
    )


def test_sync_multipart_keeps_alpha_and_size_x4(client: Any) -> None:
    rgba = noise(12, 20, 4)
    rgba[..., 3] = 255
    rgba[:4, :, 3] = 0
    r = client.post("/v1/upscale", params={"wait": "true"}, files={"file": ("logo.png", encode(rgba))})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert 'filename="logo_x4.png"' in r.headers["content-disposition"]
    out = PILImage.open(io.BytesIO(r.content))
    assert out.size == (80, 48) and out.mode == "RGBA"
    alpha = np.asarray(out)[..., 3]
    assert alpha[2, 40] == 0 and alpha[40, 40] == 255


def test_a_one_frame_gif_is_an_image_and_comes_back_a_gif(client: Any) -> None:
    rgba = noise(10, 14, 4)
    rgba[..., 3] = np.where(np.arange(14) < 7, 0, 255)[None, :]  # the left half transparent
    r = client.post("/v1/upscale", params={"wait": "true"}, files={"file": ("icon.gif", encode(rgba, "GIF"))})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/gif"
    assert 'filename="icon_x4.gif"' in r.headers["content-disposition"]
    out = PILImage.open(io.BytesIO(r.content))
    assert out.format == "GIF" and out.size == (56, 40)
    alpha = np.asarray(out.convert("RGBA"))[..., 3]
    assert alpha[20, 4] == 0 and alpha[20, 50] == 255  # GIF transparency kept


def test_sync_raw_body_with_model_and_name(client: Any, photo_path: Path) -> None:
    r = client.post(
        "/v1/upscale",
        params={"wait": "1", "model": "gensr-x4", "name": "face.jpg"},
        content=photo_path.read_bytes(),
        headers={"Content-Type": "image/jpeg"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert 'filename="face_x4.jpg"' in r.headers["content-disposition"]
    assert PILImage.open(io.BytesIO(r.content)).size == (256, 256)


def test_16bit_grey_stays_16bit(client: Any) -> None:
    g16 = np.random.default_rng(1).integers(0, 65536, (8, 10)).astype(np.uint16)
    r = client.post("/v1/upscale?wait=true", files={"file": ("g16.png", encode(g16))})
    assert r.status_code == 200, r.text
    out = PILImage.open(io.BytesIO(r.content))
    assert out.mode.startswith("I;16") and out.size == (40, 32)


def test_exif_rotated_photo_is_reported_and_upscaled_upright(client: Any) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # stored 12 wide x 8 high, shown rotated: 8 wide x 12 high
    data = encode(noise(8, 12), "JPEG", exif=exif.tobytes())
    job = client.post("/v1/upscale", files={"file": ("turned.jpg", data)}).json()
    assert (job["input"]["width"], job["input"]["height"]) == (8, 12)
    job = wait_for(client, job["id"])
    assert job["output"]["width"] == 32 and job["output"]["height"] == 48


def test_async_job_progress_result_and_delete(client: Any) -> None:
    r = client.post("/v1/upscale", files={"file": ("a.jpg", encode(noise(40, 56), "JPEG"))})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running", "done") and job["input"] == {
        "name": "a.jpg",
        "width": 56,
        "height": 40,
        "format": "JPEG",
    }
    job = wait_for(client, job["id"])
    assert job["status"] == "done" and job["progress"] == 1.0 and job["error"] is None
    assert job["output"] == {"name": "a_x4.jpg", "width": 224, "height": 160}
    res = client.get(job["result_url"])
    assert res.status_code == 200 and PILImage.open(io.BytesIO(res.content)).size == (224, 160)
    dl = client.get(job["result_url"], params={"download": "1"})
    assert dl.headers["content-disposition"].startswith("attachment")
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    gone = client.get(f"/v1/jobs/{job['id']}")
    assert gone.status_code == 404 and "no such job" in gone.json()["error"]


def test_zip_of_results_renames_duplicates(client: Any) -> None:
    ids = []
    for _ in range(2):
        r = client.post("/v1/upscale", files={"file": ("same.png", encode(noise(8, 8)))})
        ids.append(r.json()["id"])
    assert all(wait_for(client, i)["status"] == "done" for i in ids)
    r = client.get("/v1/results.zip", params={"ids": ",".join([*ids, "unknown"])})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert sorted(names) == ["same_x4 (2).png", "same_x4.png"]
    assert client.get("/v1/results.zip", params={"ids": "nope"}).status_code == 404


def test_tiff_result_has_a_png_preview(client: Any) -> None:
    r = client.post("/v1/upscale", files={"file": ("scan.tif", encode(noise(6, 9), "TIFF"))})
    job = wait_for(client, r.json()["id"])
    assert job["output"]["name"] == "scan_x4.tif"
    assert client.get(job["result_url"]).headers["content-type"] == "image/tiff"
    for which, size in (("result", (36, 24)), ("input", (9, 6))):
        p = client.get(f"/v1/jobs/{job['id']}/preview", params={"which": which})
        assert p.headers["content-type"] == "image/png"
        assert PILImage.open(io.BytesIO(p.content)).size == size


@pytest.mark.parametrize("how", ["multipart", "raw", "chunked"])
def test_oversize_upload_is_413(client: Any, how: str) -> None:
    blob = np.random.default_rng(0).bytes(MAX_UPLOAD + 100_000)
    if how == "multipart":
        r = client.post("/v1/upscale", files={"file": ("big.png", blob)})
    elif how == "raw":
        r = client.post("/v1/upscale", content=blob)
    else:  # no Content-Length: the server must count while reading
        r = client.post(
            "/v1/upscale", content=iter([blob[i : i + 65536] for i in range(0, len(blob), 65536)])
        )
    assert r.status_code == 413
    assert "larger than this server accepts" in r.json()["error"]


def test_upload_just_under_the_limit_is_read(client: Any) -> None:
    blob = b"x" * (MAX_UPLOAD - 10)
    r = client.post("/v1/upscale", files={"file": ("notes.txt", blob)})
    assert r.status_code == 415  # read in full, then refused for what it is, not for its size


@pytest.mark.parametrize(
    ("name", "data", "status", "words"),
    [
        ("notes.txt", b"hello, not an image", 415, "notes.txt is not an image gensr can read"),
        ("pic.ppm", encode(noise(8, 8, 1), "PPM"), 415, "pic.ppm is a PPM image"),
        ("empty.png", b"", 422, "empty.png is empty"),
        ("wide.png", encode(np.zeros((170, 170), np.uint8)), 422, "wide.png is 170×170"),
    ],
)
def test_refused_uploads_say_why(client: Any, name: str, data: bytes, status: int, words: str) -> None:
    r = client.post("/v1/upscale", files={"file": (name, data)})
    assert r.status_code == status
    assert words in r.json()["error"]


def test_truncated_image_fails_with_422_and_its_name(client: Any) -> None:
    data = encode(noise(64, 64))
    r = client.post("/v1/upscale", files={"file": ("cut.png", data[: len(data) // 2])})
    assert r.status_code == 202  # the header is fine; decoding fails in the worker
    job = wait_for(client, r.json()["id"])
    assert job["status"] == "failed" and job["error"].startswith("cut.png: ")
    res = client.get(job["result_url"])
    assert res.status_code == 422 and res.json()["error"] == job["error"]


def test_unknown_things_are_404_json(client: Any) -> None:
    r = client.post("/v1/upscale?model=../../etc/passwd", files={"file": ("a.png", encode(noise(4, 4)))})
    assert r.status_code == 404 and "unknown model" in r.json()["error"] and "tiny-x4" in r.json()["error"]
    assert client.get("/v1/jobs/nope").status_code == 404
    assert client.get("/v1/jobs/nope/result").status_code == 404
    r = client.get("/v2/whatever")
    assert r.status_code == 404 and "no such page" in r.json()["error"]
    form = b'--B\r\nContent-Disposition: form-data; name="model"\r\n\r\ntiny-x4\r\n--B--\r\n'
    r = client.post("/v1/upscale", content=form, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert r.status_code == 422 and "no file in the upload" in r.json()["error"]


def test_page_and_its_assets_are_local(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        r = client.get(asset)
        assert r.status_code == 200 and "http://" not in r.text and "https://" not in r.text


def test_full_queue_answers_503_with_retry_after(server_factory: Any, tiny_model: ModelEntry) -> None:
    # no worker: jobs only wait, so the queue fills
    with (
        server_factory([tiny_model], devices=[], capacity=2) as running,
        httpx.Client(base_url=running.url, timeout=30) as c,
    ):
        png = encode(noise(4, 4))
        first, second = (c.post("/v1/upscale", files={"file": ("a.png", png)}) for _ in range(2))
        assert (first.status_code, second.status_code) == (202, 202)
        assert [c.get(f"/v1/jobs/{r.json()['id']}").json()["queue_position"] for r in (first, second)] == [
            0,
            1,
        ]
        full = c.post("/v1/upscale", files={"file": ("a.png", png)})
        assert full.status_code == 503 and full.headers["retry-after"] == "5"
        assert "busy" in full.json()["error"]
        assert c.delete(f"/v1/jobs/{first.json()['id']}").status_code == 204  # frees a place
        assert c.get(f"/v1/jobs/{second.json()['id']}").json()["queue_position"] == 0
        assert c.post("/v1/upscale", files={"file": ("a.png", png)}).status_code == 202
        assert c.get("/healthz").json()["queue"] == {"waiting": 2, "capacity": 2}
        folders = list(running.service.root.iterdir())
        assert len(folders) == 2  # refused and deleted uploads left nothing behind
    assert not running.service.root.exists()  # shutdown deletes the temporary folder


def test_results_expire(server_factory: Any, tiny_model: ModelEntry) -> None:
    with (
        server_factory([tiny_model], keep_seconds=0.2) as running,
        httpx.Client(base_url=running.url, timeout=30) as c,
    ):
        job = c.post("/v1/upscale", files={"file": ("a.png", encode(noise(4, 4)))}).json()
        folder = running.service.root / job["id"]
        deadline = time.monotonic() + 20
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not folder.exists()
        assert c.get(f"/v1/jobs/{job['id']}").status_code == 404
