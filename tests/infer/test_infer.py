from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import gensr.infer.tiling as tiling
from gensr.imageio import Image
from gensr.infer import (
    Upscaler,
    auto_tile,
    fill_transparent,
    pad_to_multiple,
    resolve_device,
    resolve_precision,
    size_multiple,
    tile_upscale,
    upscale_alpha,
)
from gensr.infer.tiling import conv_radius


def small_net(scale: int = 2, feat: int = 8) -> nn.Module:
    """Three 3x3 convs and a pixel shuffle: receptive radius exactly 3 input pixels."""
    net = nn.Sequential(
        nn.Conv2d(3, feat, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(feat, feat, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(feat, 3 * scale * scale, 3, padding=1),
        nn.PixelShuffle(scale),
    )
    with torch.no_grad():
        net[-2].bias.add_(0.5)  # keep outputs mostly inside [0, 1] so clamping hides nothing
    return net.eval()


def reference(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return net(x).clamp(0, 1)


def test_tile_at_least_image_equals_untiled() -> None:
    net = small_net()
    x = torch.rand(1, 3, 20, 28)
    ref = reference(net, x)
    for tile in (None, 28, 64):
        out = tile_upscale(net, x, scale=2, tile=tile, overlap=4)
        assert out.shape == (1, 3, 40, 56)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_tiled_equals_untiled_when_overlap_covers_receptive_field() -> None:
    net = small_net()
    assert conv_radius(net) == 3
    x = torch.rand(1, 3, 37, 23)  # odd sizes, several uneven tiles
    ref = reference(net, x)
    out = tile_upscale(net, x, scale=2, tile=8, overlap=3)
    assert (out - ref).abs().max() <= 1e-5
    # the property is not vacuous: without context the tile borders differ
    assert (tile_upscale(net, x, scale=2, tile=8, overlap=0) - ref).abs().max() > 1e-3


def test_real_size_compact_net_tiled_within_one_level() -> None:
    from gensr.models import load_model, resolve_model

    net = load_model(resolve_model("gensr-compact-x4"))[0]  # a trained 18-conv network
    x = torch.rand(1, 3, 40, 36)
    ref = reference(net, x)
    out = tile_upscale(net, x, scale=4, tile=16)  # overlap: its receptive radius (18)
    assert (out - ref).abs().max() <= 1e-5
    out = tile_upscale(net, x, scale=4, tile=16, overlap=12)  # less context than it sees
    assert (out - ref).abs().max() <= 1 / 255


def test_rrdb_net_with_unshuffle_tiles_on_its_grid() -> None:
    from gensr.archs import build_generator

    net = build_generator("rrdbnet", {"scale": 2, "num_block": 1, "num_feat": 16, "num_grow_ch": 8}).eval()
    assert size_multiple(net) == 2
    x = torch.rand(1, 3, 27, 21)  # odd: padded to the unshuffle multiple
    ref = reference(net, x)
    out = tile_upscale(net, x, scale=2, tile=9, overlap=12)
    assert out.shape == (1, 3, 54, 42)
    assert (out - ref).abs().max() <= 1 / 255


@pytest.mark.parametrize(("h", "w"), [(1, 1), (3, 5), (2, 7)])
def test_tiny_images(h: int, w: int) -> None:
    from gensr.archs import build_generator

    x = torch.rand(1, 3, h, w)
    net = small_net()
    torch.testing.assert_close(
        tile_upscale(net, x, scale=2, tile=2, overlap=3), reference(net, x), atol=1e-5, rtol=0
    )
    rrdb = build_generator("rrdbnet", {"scale": 1, "num_block": 1, "num_feat": 8, "num_grow_ch": 4})
    out = tile_upscale(rrdb, x, scale=1, overlap=4)  # pixel-unshuffle by 4 needs padding to 4
    assert out.shape == (1, 3, h, w) and torch.isfinite(out).all()


@pytest.mark.parametrize("multiple", [1, 2, 3, 4, 8])
def test_pad_then_crop_is_identity(multiple: int) -> None:
    for h, w in [(1, 1), (2, 3), (5, 4), (9, 17)]:
        x = torch.rand(2, 3, h, w)
        p = pad_to_multiple(x, multiple)
        assert p.shape[-2] % multiple == 0 and p.shape[-1] % multiple == 0
        assert p.shape[-2] - h < multiple and p.shape[-1] - w < multiple
        assert torch.equal(p[..., :h, :w], x)
    x = torch.arange(3.0).view(1, 1, 1, 3)
    p = pad_to_multiple(x, 8)
    assert p.shape == (1, 1, 8, 8)
    assert p[0, 0, 0].tolist() == [0, 1, 2, 1, 0, 0, 0, 0]  # reflect as far as possible, then replicate
    assert torch.equal(p[0, 0], p[0, 0, :1].expand(8, 8))  # a single row can only be replicated


def test_precision_rules() -> None:
    cpu = torch.device("cpu")
    net = small_net()
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="CUDA"):
        tile_upscale(net, x, scale=2, dtype=torch.float16, device="cpu")
    with pytest.raises(ValueError, match="CUDA"):
        Upscaler(net, scale=2, device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", cpu)
    assert resolve_precision("fp32", cpu) == torch.float32
    ref = reference(net, x)
    out = tile_upscale(net, x, scale=2, dtype=torch.bfloat16)  # casts the net in place
    assert out.dtype == torch.float32 and (out - ref).abs().max() < 0.05


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            resolve_device("cuda")


class OomAbove(nn.Module):
    """Raises the CUDA out-of-memory error for inputs larger than ``limit`` pixels."""

    def __init__(self, inner: nn.Module, limit: int) -> None:
        super().__init__()
        self.inner, self.limit, self.calls, self.ooms = inner, limit, 0, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if x.shape[-2] * x.shape[-1] > self.limit:
            self.ooms += 1
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def test_out_of_memory_tile_is_retried_smaller() -> None:
    inner = small_net()
    x = torch.rand(1, 3, 64, 48)
    net = OomAbove(inner, limit=(24 + 6) ** 2)
    out = tile_upscale(net, x, scale=2, tile=64, overlap=3)
    assert net.ooms >= 1 and net.calls > net.ooms
    assert (out - reference(inner, x)).abs().max() <= 1e-5
    with pytest.raises(torch.OutOfMemoryError):  # never small enough: not swallowed
        tile_upscale(OomAbove(inner, limit=1), x, scale=2, tile=64, overlap=3)


def test_other_errors_are_not_retried() -> None:
    class Broken(nn.Module):
        calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            Broken.calls += 1
            raise RuntimeError("broken kernel")

    with pytest.raises(RuntimeError, match="broken kernel"):
        tile_upscale(Broken(), torch.rand(1, 3, 32, 32), scale=2, tile=8, overlap=0)
    assert Broken.calls == 1


def test_non_finite_output_raises() -> None:
    class NaNNet(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.full((x.shape[0], 3, x.shape[2] * 2, x.shape[3] * 2), float("nan"))

    with pytest.raises(FloatingPointError):
        tile_upscale(NaNNet(), torch.rand(1, 3, 8, 8), scale=2)


def test_wrong_scale_is_caught() -> None:
    with pytest.raises(ValueError, match="not 4x"):
        tile_upscale(small_net(scale=2), torch.rand(1, 3, 8, 8), scale=4)


def test_auto_tile_whole_image_on_cpu_and_budget_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    net = small_net()
    cpu = torch.device("cpu")
    assert auto_tile(net, 300, 200, scale=2, overlap=3, device=cpu, dtype=torch.float32) >= 300
    monkeypatch.setattr(tiling, "_memory_budget", lambda device: 2e6)
    tile = auto_tile(net, 300, 200, scale=2, overlap=3, device=cpu, dtype=torch.float32)
    assert 16 <= tile < 200
    x = torch.rand(1, 3, 70, 50)
    seen: list[tuple[int, int]] = []
    out = tile_upscale(net, x, scale=2, overlap=3, progress=lambda d, t: seen.append((d, t)))
    assert (out - reference(net, x)).abs().max() <= 1e-5
    assert seen[-1] == (70 * 50, 70 * 50) and len(seen) >= 1


def test_fill_transparent_bleeds_visible_colour() -> None:
    rgb = torch.zeros(1, 3, 6, 8)
    rgb[:, 0, :, :4] = 1.0  # red on the left, black garbage under transparency on the right
    alpha = torch.zeros(1, 1, 6, 8)
    alpha[..., :4] = 1.0
    alpha[..., 0, 0] = 0.5
    filled = fill_transparent(rgb, alpha)
    assert torch.equal(filled[..., :4], rgb[..., :4])  # visible pixels untouched
    torch.testing.assert_close(filled[:, 0, :, 4:], torch.ones(1, 6, 4))
    assert filled[:, 1:].abs().max() == 0


def test_no_dark_halo_around_transparent_edges() -> None:
    # a red disc on fully transparent black, upscaled by a smoothing "network"
    yy, xx = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    alpha = (((yy - 11.5) ** 2 + (xx - 11.5) ** 2) < 64).float()[None, None]
    rgb = torch.zeros(1, 3, 24, 24)
    rgb[:, 0] = alpha[:, 0]
    net = nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.AvgPool2d(3, 1, 1)
    )
    img = Image(rgb=rgb, alpha=alpha)
    out = Upscaler(net, scale=2, device="cpu", overlap=4).upscale(img)
    assert out.alpha is not None and out.alpha.shape == (1, 1, 48, 48)
    seen = out.alpha[0, 0] > 0.02
    red = out.rgb[0, 0][seen]
    assert red.min() > 0.99  # visible pixels keep the disc's colour at the outline
    plain = tile_upscale(net, rgb, scale=2, overlap=4)[0, 0][seen]
    assert plain.min() < 0.8  # without filling, the black bleeds in (the halo this prevents)


def test_upscale_alpha() -> None:
    a = torch.zeros(1, 1, 5, 7)
    a[..., 2:] = 1
    up = upscale_alpha(a, 3)
    assert up.shape == (1, 1, 15, 21) and up.min() >= 0 and up.max() <= 1
    assert torch.equal(upscale_alpha(torch.ones(1, 1, 3, 3), 4), torch.ones(1, 1, 12, 12))


def test_upscaler_keeps_image_properties() -> None:
    net = small_net()
    gray = torch.rand(1, 1, 9, 10).expand(1, 3, -1, -1)
    img = Image(
        rgb=gray, alpha=torch.rand(1, 1, 9, 10), bits=16, gray=True, exif=b"Exif\x00\x00x", icc=b"icc"
    )
    for alpha_method in ("bicubic", "net"):
        out = Upscaler(net, scale=2, device="cpu", alpha=alpha_method, overlap=3).upscale(img)
        assert out.rgb.shape == (1, 3, 18, 20) and out.alpha is not None and out.alpha.shape == (1, 1, 18, 20)
        assert (out.bits, out.gray, out.exif, out.icc) == (16, True, b"Exif\x00\x00x", b"icc")
        assert torch.equal(out.rgb[:, 0], out.rgb[:, 1])  # grey stays grey
        assert 0 <= out.alpha.min() and out.alpha.max() <= 1


# ------------------------------------------------------------------------------ bands (flat memory)


def test_bands_add_up_to_the_whole_upscale() -> None:
    net = small_net()
    x = torch.rand(1, 3, 37, 23)
    ref = reference(net, x)
    seen: list[tuple[int, int]] = []
    bands = list(
        tiling.iter_bands(
            net,
            x,
            scale=2,
            tile=16,
            overlap=3,
            device=torch.device("cpu"),
            dtype=torch.float32,
            band_rows=5,
            progress=lambda d, t: seen.append((d, t)),
        )
    )
    assert [b.shape[-2] for b in bands] == [10] * 7 + [4]  # 5-row bands of 37 rows, cropped at the end
    assert all(b.shape[-1] == 46 for b in bands)
    assert (torch.cat(bands, dim=2) - ref).abs().max() <= 1e-5
    assert seen[-1] == (37 * 23, 37 * 23)


def test_band_plan_bounds_band_and_tile(monkeypatch: pytest.MonkeyPatch) -> None:
    net, cpu = small_net(), torch.device("cpu")
    plan = lambda h, w, tile=None: tiling.band_plan(  # noqa: E731
        net, h, w, scale=2, tile=tile, overlap=3, device=cpu, dtype=torch.float32
    )
    assert plan(40, 30) == (40, 40)  # small: one piece
    monkeypatch.setattr(tiling, "BAND_BYTES", 4 * 3 * 2 * 2 * 30 * 8)  # 8 input rows of a 30-wide input
    assert plan(40, 30) == (40, 8)
    assert plan(40, 30, tile=64) == (64, 40)  # an explicit tile covering the image: one piece
    assert plan(40, 30, tile=12) == (12, 8)
    monkeypatch.setattr(tiling, "HOST_TILE_BYTES", 2e6)  # the activations of an automatic tile too
    tile, rows = plan(400, 30)
    assert 16 <= tile < 100 and rows == 8


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upscale_alpha_by_rows_matches_the_whole(scale: int) -> None:
    a = torch.rand(1, 1, 11, 6)
    whole = upscale_alpha(a, scale)
    for r0, r1 in [(0, 1), (0, 7), (5, 9), (scale * 11 - 3, scale * 11), (0, scale * 11)]:
        part = upscale_alpha(a, scale, rows=(r0, r1))
        assert part.shape == (1, 1, r1 - r0, 6 * scale)
        assert (part - whole[..., r0:r1, :]).abs().max() <= (0 if scale != 3 else 1e-6)
    assert torch.equal(upscale_alpha(torch.ones(1, 1, 3, 3), 2, rows=(1, 4)), torch.ones(1, 1, 3, 6))


def test_upscaler_bands_equal_the_whole_image_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bands of a few rows give what the one-piece upscale gives: colour, bicubic or network alpha, grey."""
    net = small_net()
    g = torch.Generator().manual_seed(0)
    alpha = (torch.rand(1, 1, 19, 14, generator=g) > 0.3).float()
    rgb = torch.rand(1, 3, 19, 14, generator=g)
    monkeypatch.setattr(tiling, "BAND_BYTES", 4 * 3 * 2 * 2 * 14 * 4)  # bands of 4 input rows
    for gray in (False, True):
        img = Image(rgb=rgb[:, :1].expand(1, 3, -1, -1) if gray else rgb, alpha=alpha, gray=gray)
        filled = fill_transparent(img.rgb, alpha)
        for method in ("bicubic", "net"):
            up = Upscaler(net, scale=2, device="cpu", overlap=3, alpha=method)
            bands = list(up.upscale_bands(img))
            assert [b.height for b in bands] == [8] * 4 + [6]
            out = up.upscale(img)
            ref_rgb = reference(net, filled)
            if gray:
                ref_rgb = ref_rgb.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
            ref_alpha = (
                upscale_alpha(alpha, 2)
                if method == "bicubic"
                else reference(net, alpha.expand(-1, 3, -1, -1)).mean(dim=1, keepdim=True)
            )
            assert (out.rgb - ref_rgb).abs().max() <= 1e-5
            assert out.alpha is not None and (out.alpha - ref_alpha).abs().max() <= 1e-5
            assert out.gray == gray and (not gray or torch.equal(out.rgb[:, 0], out.rgb[:, 2]))


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_one_band_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ext: str) -> None:
    """While a band is computed, no earlier band is alive anywhere (upscaler, writer, encoder)."""
    import gc
    import warnings

    from gensr.imageio import write_bands

    width = 10 * 2  # output width: full-width tensors are bands (or views of them)
    seen: list[int] = []

    class Counting(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = small_net()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] == 10:  # a tile, not auto_tile's probe
                with warnings.catch_warnings():  # isinstance() touches deprecated torch objects
                    warnings.simplefilter("ignore")
                    alive = [
                        o for o in gc.get_objects() if isinstance(o, torch.Tensor) and o.shape[-1] == width
                    ]
                seen.append(len(alive))
                del alive
            return self.inner(x)

    monkeypatch.setattr(tiling, "BAND_BYTES", 4 * 3 * 2 * 2 * 10 * 3)  # bands of 3 input rows
    img = Image(rgb=torch.rand(1, 3, 12, 10), alpha=torch.rand(1, 1, 12, 10))
    up = Upscaler(Counting(), scale=2, device="cpu", overlap=3)
    write_bands(tmp_path / f"x{ext}", up.upscale_bands(img), height=24)
    assert len(seen) == 4 and max(seen) == 0  # bands are allocated after their first tile
