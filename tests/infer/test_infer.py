from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import gensr.infer.tiling as tiling
import gensr.infer.tuning as tuning
from gensr.imageio import Image
from gensr.infer import (
    Upscaler,
    auto_tile,
    choose_precision,
    fill_transparent,
    layout,
    pad_to_multiple,
    resolve_device,
    resolve_precision,
    size_multiple,
    tile_upscale,
    upscale_alpha,
)
from gensr.infer.geometry import Geometry, conv_radius, geometry_of
from gensr.infer.tuning import make_plan
from gensr.metrics.artefacts import is_neutral


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


@pytest.mark.parametrize(
    ("onednn", "flags", "auto", "explicit_bf16"),
    [
        (True, {"avx512f", "avx512_bf16", "amx_bf16"}, torch.bfloat16, torch.bfloat16),  # Sapphire Rapids
        (True, {"avx2", "avx512f", "avx512_bf16"}, torch.bfloat16, torch.bfloat16),  # Zen 4
        (True, {"avx2", "avx512f"}, torch.float32, torch.float32),  # Skylake-X: oneDNN would emulate bf16
        (False, {"avx2", "fma"}, torch.float32, torch.float32),  # Zen 3: aten::_slow_conv2d_forward
        (True, set(), torch.float32, torch.float32),  # flags unknown: fp32, never slower
    ],
)
def test_precision_auto_is_bf16_only_where_native(
    monkeypatch: pytest.MonkeyPatch,
    onednn: bool,
    flags: set[str],
    auto: torch.dtype,
    explicit_bf16: torch.dtype,
) -> None:
    import gensr.infer.devices as devices

    monkeypatch.setattr(devices, "_onednn_bf16", lambda: onednn)
    monkeypatch.setattr(devices, "cpu_flags", lambda: flags)
    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu) == (auto, None)
    dtype, note = choose_precision("bf16", cpu)
    assert dtype == explicit_bf16
    if explicit_bf16 == torch.float32:  # a one-line notice saying why
        assert note is not None and "running fp32" in note and "\n" not in note
        assert "bf16" in note and ("instructions" in note or "oneDNN" in note)
    else:
        assert note is None
    assert choose_precision("fp32", cpu) == (torch.float32, None)
    up = Upscaler(small_net(), scale=2, device="cpu", precision="bf16")
    assert up.dtype == explicit_bf16 and (up.precision_note is None) == (explicit_bf16 == torch.bfloat16)


def test_reduced_precision_within_40db_of_fp32_on_a_real_photo() -> None:
    """The quality guard: bf16 (and fp16 on CUDA) on the bundled photo, built-in model, >= 40 dB from fp32."""
    from gensr.imageio import read_image
    from gensr.infer.devices import prepare_net
    from gensr.metrics import psnr
    from gensr.models import load_model, resolve_model

    sample = Path(__file__).parents[2] / "src/gensr/samples/astronaut.jpg"
    lr = read_image(sample).rgb[..., 40:104, 80:144]  # (1, 3, 64, 64): face, helmet and flag
    net, info = load_model(resolve_model(None))
    cpu = torch.device("cpu")
    ref = planned_run(net, lr, tile=0, device=cpu, dtype=torch.float32)
    runs = [(cpu, torch.bfloat16)] + (
        [(torch.device("cuda"), torch.float16)] if torch.cuda.is_available() else []
    )
    for device, dtype in runs:  # run in that dtype even where it is not native (slow, but a 64 px crop)
        prepare_net(net, device, dtype)
        sr = planned_run(net, lr, tile=32, device=device, dtype=dtype)
        db = float(psnr((sr * 255).round() / 255, (ref * 255).round() / 255, y_channel=False))
        assert db >= 40.0, f"{dtype}: {db:.1f} dB from fp32"


def planned_run(net: nn.Module, lr: torch.Tensor, *, tile: int, device: torch.device, dtype: torch.dtype):
    """:func:`tiling.run_tiles` on the plan for ``tile``, in ``dtype`` even where it is not native."""
    geom = geometry_of(net)
    run = make_plan(
        net, geom, *lr.shape[-2:], tile=tile, overlap=None, batch=None, device=device, dtype=dtype
    )
    return tiling.run_tiles(net, lr, geom, run, device=device, dtype=dtype)


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
        if x.shape[0] * x.shape[-2] * x.shape[-1] > self.limit:
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


def test_out_of_memory_batch_is_retried_one_tile_at_a_time() -> None:
    inner = small_net()
    x = torch.rand(1, 3, 32, 32)
    net = OomAbove(inner, limit=2 * 16**2)  # two 16-px windows fit, four do not
    out = tile_upscale(net, x, scale=2, tile=8, overlap=3, batch=4)
    assert net.ooms == 1 and (out - reference(inner, x)).abs().max() <= 1e-5


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


def wide_net(scale: int = 2, feat: int = 64) -> nn.Module:
    """small_net with compact-model-sized (64-channel) activations."""
    return small_net(scale, feat)


def test_auto_tile_is_sized_for_speed_not_the_whole_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tuning, "_cache_file", lambda: tmp_path / "tuning.json")
    timed: list[list[int]] = []

    def fake_measure(net: nn.Module, *, dtype: torch.dtype, windows: list[int]) -> dict[int, float]:
        timed.append(windows)
        per_px = {128: 1.0, 192: 1.0, 256: 1.0, 288: 1.3}  # this "CPU" slows down past 256 px
        return {p: per_px.get(p, 1.3) * p * p * 1e-7 for p in windows}

    monkeypatch.setattr(tuning, "measure_windows", fake_measure)
    net = wide_net()  # 64-channel activations, like the compact model
    cpu = torch.device("cpu")

    def core(h: int, w: int, overlap: int = 18, dtype: torch.dtype = torch.float32) -> int:
        return auto_tile(net, geometry_of(net, 2), h, w, overlap=overlap, device=cpu, dtype=dtype)

    cap = 288  # the largest multiple of 32 whose 64-channel fp32 activation fits CPU_ACTIVATION_BYTES
    assert cap**2 * 64 * 4 <= tuning.CPU_ACTIVATION_BYTES < (cap + 32) ** 2 * 64 * 4
    assert core(3000, 2000) == 256 - 2 * 18 and timed == [[128, 192, 256, 288]]  # windows of 256 px
    assert core(3000, 2000) == 256 - 2 * 18
    assert len(timed) == 1  # stored in <cache>/tuning.json, keyed by CPU, threads, torch, net, dtype, overlap
    stored = json.loads((tmp_path / "tuning.json").read_text())
    assert list(next(iter(stored.values()))["cpu_seconds"]) == ["128", "192", "256", "288"]
    assert "float32; overlap 18" in next(iter(stored))
    # per image, the cheapest layout, windows shrunk to the fewest that cover it (fit_window): 520 px
    # needs 3x3 windows of 256 px, and 200 px windows do with 9 x 4.0e-3 s, less than 2x2 shrunk 288s
    # (4 x 1.02e-2 s); 500 px: 3x3 of 192 (9 x 3.7e-3 s)
    assert core(520, 520) == 200 - 2 * 18
    assert core(500, 500) == 192 - 2 * 18
    assert core(280, 200) == 280  # fits one window: the whole image, no overlap to recompute
    assert len(timed) == 1
    net.bfloat16()
    core(3000, 2000, dtype=torch.bfloat16)
    assert timed[-1] == [128, 192, 256, 320, 384, 416]  # half the bytes per pixel: a larger cap, its own key
    net.float()
    monkeypatch.setattr(tuning, "_memory_budget", lambda device: 4 * 64 * 4 * 100**2)
    assert core(3000, 2000, overlap=3) == 96 - 2 * 3  # within memory


def test_networks_too_slow_to_time_get_the_largest_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tuning, "_cache_file", lambda: tmp_path / "tuning.json")
    monkeypatch.setattr(tuning, "SLOW_CALL_S", 0.0)  # every warm-up counts as slow: one window timed
    said: list[str] = []
    net = small_net()
    assert tuning.window_seconds(net, overlap=3, dtype=torch.float32, cap=160, notify=said.append) is None
    assert len(said) == 1 and "timing tile windows" in said[0]
    assert list(tuning.cached_seconds(tuning.tuning_key(net, overlap=3, dtype=torch.float32)) or {}) == [128]


def test_automatic_tiles_equal_untiled(monkeypatch: pytest.MonkeyPatch) -> None:
    net = small_net()
    monkeypatch.setattr(tuning, "CPU_ACTIVATION_BYTES", 8 * 4 * 40**2)  # the smallest cap: 72 px windows
    x = torch.rand(1, 3, 200, 150)
    calls = CountingNet(net)
    seen: list[tuple[int, int]] = []
    out = tile_upscale(calls, x, scale=2, overlap=3, progress=lambda d, t: seen.append((d, t)))
    assert (out - reference(net, x)).abs().max() <= 1e-5
    assert calls.shapes[-9:] == [(1, 3, 72, 72)] * 9 and seen[-1] == (200 * 150, 200 * 150)


class CountingNet(nn.Module):
    """Records the input shape of every call."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.shapes = inner, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return self.inner(x)


def test_tile_zero_is_the_whole_image_in_the_api_as_on_the_command_line() -> None:
    net = CountingNet(small_net())
    x = torch.rand(1, 3, 37, 23)
    out = Upscaler(net, scale=2, device="cpu", tile=0, overlap=3).upscale_tensor(x)
    assert net.shapes == [(1, 3, 37, 23)]
    assert (out - reference(net.inner, x)).abs().max() <= 1e-5
    with pytest.raises(ValueError, match="tile"):
        Upscaler(net, scale=2, device="cpu", tile=-1)


def test_tiles_share_one_window_size_and_batch_exactly() -> None:
    inner = small_net()
    x = torch.rand(2, 3, 37, 29)  # two images, odd sizes: uneven cores at the borders
    ref = reference(inner, x)
    one = CountingNet(inner)
    out = tile_upscale(one, x, scale=2, tile=8, overlap=3)
    assert (out - ref).abs().max() <= 1e-5
    assert len({s for s in one.shapes}) == 1 and one.shapes[0][-2:] == (16, 16)  # 8 + 2 * 3, rounded up to 8
    batched = CountingNet(inner)
    out = tile_upscale(batched, x, scale=2, tile=8, overlap=3, batch=4)
    assert (out - ref).abs().max() <= 1e-5
    ny, nx = len(layout.spans(0, 37, 37, 16, 3, 1)), len(layout.spans(0, 29, 29, 16, 3, 1))
    assert len(one.shapes) == ny * nx  # batches stay within a band (a row of windows)
    assert len(batched.shapes) == ny * -(-nx // 4) and batched.shapes[0][0] == 2 * min(4, nx)


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


def test_a_grey_picture_stored_as_colour_stays_grey() -> None:
    """R = G = B everywhere (a grey JPEG decodes so): the output is grey although the network adds colour;
    still written as colour. One colour pixel and the network's colour is kept."""

    class Tint(nn.Module):  # adds a different amount to each channel: colour on a grey input
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            up = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            return up + torch.tensor([0.05, 0.0, -0.05]).view(1, 3, 1, 1)

    grey = (0.1 + 0.8 * torch.rand(1, 1, 9, 10)).expand(1, 3, -1, -1).clone()  # no clipping
    up = Upscaler(Tint(), scale=2, device="cpu", tile=0)
    out = up.upscale(Image(rgb=grey))
    assert not out.gray and is_neutral(out.rgb)
    assert (out.rgb[:, 0] - torch.nn.functional.interpolate(grey, scale_factor=2)[:, 0]).abs().max() < 1e-6
    grey[0, 0, 4, 4] += 0.01  # no longer grey: the network's output as it is
    out = up.upscale(Image(rgb=grey))
    assert (out.rgb[:, 0] - out.rgb[:, 2]).abs().max() > 0.09


# ------------------------------------------------------------------------------ bands (flat memory)


def test_bands_add_up_to_the_whole_upscale() -> None:
    net = small_net()
    x = torch.rand(1, 3, 37, 23)
    ref = reference(net, x)
    seen: list[tuple[int, int]] = []
    cpu, geom = torch.device("cpu"), Geometry(scale=2)
    run = make_plan(net, geom, 37, 23, tile=16, overlap=3, batch=None, device=cpu, dtype=torch.float32)
    run = dataclasses.replace(run, band_rows=5)
    bands = list(
        tiling.iter_bands(
            net, x, geom, run, device=cpu, dtype=torch.float32, progress=lambda d, t: seen.append((d, t))
        )
    )
    assert [b.shape[-2] for b in bands] == [10] * 7 + [4]  # 5-row bands of 37 rows, cropped at the end
    assert all(b.shape[-1] == 46 for b in bands)
    assert (torch.cat(bands, dim=2) - ref).abs().max() <= 1e-5
    assert seen[-1] == (37 * 23, 37 * 23)


def test_band_plan_bounds_band_and_tile(monkeypatch: pytest.MonkeyPatch) -> None:
    net, cpu = small_net(), torch.device("cpu")

    def plan(h: int, w: int, tile: int | None = None) -> tuple[int, int | None]:
        run = make_plan(
            net, Geometry(scale=2), h, w, tile=tile, overlap=3, batch=None, device=cpu, dtype=torch.float32,
            bands=True,
        )  # fmt: skip
        return run.tile, run.band_rows

    assert plan(40, 30) == (40, 40)  # small: one piece
    monkeypatch.setattr(tuning, "BAND_BYTES", 4 * 3 * 2 * 2 * 30 * 8)  # 8 input rows of a 30-wide input
    assert plan(40, 30) == (40, 8)
    assert plan(40, 30, tile=64) == (64, 40)  # an explicit tile covering the image: one piece
    assert plan(40, 30, tile=12) == (12, 8)
    monkeypatch.setattr(tuning, "HOST_TILE_BYTES", 2e6)  # the activations of an automatic tile too
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
    monkeypatch.setattr(tuning, "BAND_BYTES", 4 * 3 * 2 * 2 * 14 * 4)  # bands of 4 input rows
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

    monkeypatch.setattr(tuning, "BAND_BYTES", 4 * 3 * 2 * 2 * 10 * 3)  # bands of 3 input rows
    img = Image(rgb=torch.rand(1, 3, 12, 10), alpha=torch.rand(1, 1, 12, 10))
    up = Upscaler(Counting(), scale=2, device="cpu", overlap=3)
    write_bands(tmp_path / f"x{ext}", up.upscale_bands(img), height=24)
    assert len(seen) == 4 and max(seen) == 0  # bands are allocated after their first tile
