"""One set of defaults: a picture through ``gensr serve``'s API gives the bytes ``gensr upscale`` writes.

Both load the model through :func:`gensr.infer.choose.load_upscaler` with their defaults (precision
``auto``, engine ``auto``, tile windows timed for the machine), and both encode with the same quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage

from gensr.cli import main
from gensr.serve.jobs import ModelEntry


@pytest.mark.parametrize(("fmt", "size"), [("png", (600, 400)), ("jpg", (256, 128))])
def test_the_api_and_the_command_give_the_same_bytes(
    fmt: str, size: tuple[int, int], server_factory: Any, builtin_model: ModelEntry, tmp_path: Path
) -> None:
    src = Path(__file__).resolve().parents[2] / "src" / "gensr" / "samples" / "astronaut.jpg"
    photo = tmp_path / f"photo.{fmt}"
    with PILImage.open(src) as im:  # 600x400 from the 256x256 sample: several tile windows, so tiling counts
        big = PILImage.new("RGB", (600, 400))
        for k, (x, y) in enumerate((x, y) for y in (0, 256) for x in (0, 256, 512)):
            big.paste(im.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT) if k % 2 else im, (x, y))
        big.crop((0, 0, *size)).save(photo, **({"quality": 95} if fmt == "jpg" else {}))
    assert main(["upscale", str(photo), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    by_command = (tmp_path / "out" / f"photo_x4.{fmt}").read_bytes()

    limits = {"max_pixels": 4096 * 4096, "max_upload": 50 * 2**20}
    with server_factory([builtin_model], tile=None, **limits) as running:  # gensr serve's defaults
        r = httpx.post(
            f"{running.url}/v1/upscale?wait=true",
            files={"file": (photo.name, photo.read_bytes())},
            timeout=300,
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].endswith(f'"photo_x4.{fmt}"')
    assert r.content == by_command
