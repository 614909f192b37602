from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _tuning_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tile windows timed by the tests go to a file of the session, not to the user's cache."""
    import gensr.infer.tuning as tuning

    path = tmp_path_factory.mktemp("tuning") / "tuning.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tuning, "_cache_file", lambda: path)
        yield


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``tiny_model_file(scale=4, seed=0) -> path``: the tiny compact generator
    (:func:`tests.hostile.save_tiny_model`) as a gensr model file, made once per scale and seed."""
    from tests.hostile import save_tiny_model

    folder = tmp_path_factory.mktemp("tiny-models")

    def make(scale: int = 4, seed: int = 0) -> Path:
        path = folder / (
            f"tiny-x{scale}.safetensors" if seed == 0 else f"tiny-x{scale}-seed{seed}.safetensors"
        )
        return path if path.exists() else save_tiny_model(path, scale, seed)

    return make


# The test machines are small and shared: one intra-op thread is much faster than two fighting
# over a loaded core for the tiny convolutions the tests run.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def make_clip() -> object:
    """``make_clip(path, frames=24, fps=12, audio="aac", rotate=None, title=None) -> path``: a short video
    made with PyAV: a 64x48 window moving over the bundled photo, plus a 440 Hz mono sine track (skips
    the test without PyAV)."""
    av = pytest.importorskip("av")
    from pathlib import Path

    from PIL import Image as PILImage

    photo = Path(__file__).resolve().parents[1] / "src" / "gensr" / "samples" / "astronaut.jpg"
    src = np.asarray(PILImage.open(photo).convert("RGB"))

    def make(
        path: Path,
        *,
        frames: int = 24,
        fps: int = 12,
        audio: str | None = "aac",
        rotate: float | None = None,
        title: str | None = None,
        size: tuple[int, int] = (48, 64),
    ) -> Path:
        h, w = size
        with av.open(str(path), "w") as c:
            if title:
                c.metadata["title"] = title
            v = c.add_stream("libvpx-vp9" if path.suffix == ".webm" else "libx264", rate=fps)
            v.width, v.height, v.pix_fmt = w, h, "yuv420p"
            v.options = {"crf": "12"} if path.suffix != ".webm" else {"crf": "12", "b": "0", "cpu-used": "8"}
            if rotate is not None:
                v.set_display_rotation(rotate)
            a = None
            if audio:
                a = c.add_stream(audio, rate=48000)
                a.layout = "mono"
            for i in range(frames):
                crop = np.ascontiguousarray(src[40 + i : 40 + i + h, 60 + 2 * i : 60 + 2 * i + w])
                f = av.VideoFrame.from_ndarray(crop, format="rgb24")
                f.pts = i
                c.mux(v.encode(f))
            c.mux(v.encode())
            if a is not None:
                total, step = frames * 48000 // fps, 960
                for s in range(0, total, step):
                    t = np.arange(s, min(s + step, total)) / 48000
                    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
                    fr = av.AudioFrame.from_ndarray(x, format="fltp", layout="mono")
                    fr.sample_rate, fr.pts = 48000, s
                    c.mux(a.encode(fr))
                c.mux(a.encode())
        return path

    return make
