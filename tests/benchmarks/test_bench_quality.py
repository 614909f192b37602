"""benchmarks/choose.py (issue 17's default rule) and the photo table / SR cache of quality_data.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
import choose  # noqa: E402
import quality_data as qd  # noqa: E402
import quality_tables as qt  # noqa: E402

TRACKS = ("bicubic", "mild", "realistic")


def _results(lpips: dict[str, tuple[float, float, float]], periodic: dict[str, float]) -> dict[str, Any]:
    """quality.py-shaped results: per track, per method, a mean LPIPS and two images' periodic ratios."""
    tracks = {}
    for i, t in enumerate(TRACKS):
        methods = {}
        for name, values in lpips.items():
            images = {"a/x": {"periodic": periodic[name] * 0.5}, "a/y": {"periodic": periodic[name] * 1.5}}
            methods[name] = {"mean": {"lpips": values[i]}, "images": images}
        tracks[t] = {"methods": methods}
    return {"tracks": tracks}


REFS = {
    "bicubic": ((0.30, 0.40, 0.80), 5.0),
    "realesr-animevideov3-x4": ((0.25, 0.29, 0.50), 30.0),
    "realesrgan-x4plus": ((0.24, 0.22, 0.35), 8.0),
}


def _with(cands: dict[str, tuple[tuple[float, float, float], float]]) -> dict[str, Any]:
    both = {**REFS, **cands}
    return _results({k: v[0] for k, v in both.items()}, {k: v[1] for k, v in both.items()})


def test_three_conditions_each_tie_goes_to_the_better_rank() -> None:
    res = _with({
        "good": ((0.20, 0.25, 0.45), 7.0),   # beats bicubic and animevideov3 everywhere, no grid
        "grid": ((0.19, 0.24, 0.44), 400.0),  # better LPIPS everywhere, but a grid
    })  # fmt: skip
    c = choose.choose_default(res, ["good", "grid"])
    v = c.verdicts
    assert v["good"].met == {"beats_bicubic": True, "beats_animevideov3": True, "no_more_periodic": True,
                             "best_rank": False}  # fmt: skip
    assert v["grid"].missed == ["no_more_periodic"]
    assert v["grid"].mean_rank == 1.0 and v["good"].mean_rank == 2.0
    # neither meets all four; both meet three: the better mean rank wins the tie
    assert not c.meets_all and c.default == "grid"


def test_meets_all_when_best_rank_and_clean() -> None:
    res = _with({"good": ((0.20, 0.25, 0.45), 8.0), "worse": ((0.21, 0.26, 0.46), 6.0)})
    c = choose.choose_default(res, ["good", "worse"])
    assert c.default == "good" and c.meets_all
    assert c.verdicts["good"].periodic == pytest.approx(
        8.0
    )  # mean over images and tracks, equal to x4plus: ok
    js = c.to_json()
    assert js["default"] == "good" and js["candidates"]["worse"]["missed"] == ["best_rank"]
    assert js["reference"]["x4plus_periodic"] == pytest.approx(8.0)


def test_losing_one_track_to_bicubic_misses_the_condition() -> None:
    res = _with({"clean-only": ((0.20, 0.41, 0.90), 3.0), "all-round": ((0.26, 0.30, 0.49), 9.0)})
    c = choose.choose_default(res, ["clean-only", "all-round"])
    # ranks 1, 2, 2 against 2, 1, 1: the all-round model has the better mean rank
    assert c.verdicts["clean-only"].missed == ["beats_bicubic", "beats_animevideov3", "best_rank"]
    assert c.verdicts["all-round"].missed == ["beats_animevideov3", "no_more_periodic"]
    assert c.default == "all-round" and not c.meets_all
    assert choose.mean_ranks(res, ["clean-only", "all-round"]) == pytest.approx(
        {"clean-only": 5 / 3, "all-round": 4 / 3}
    )


def test_missing_reference_is_an_error() -> None:
    res = _with({"x": ((0.2, 0.2, 0.2), 1.0)})
    del res["tracks"]["mild"]["methods"]["realesr-animevideov3-x4"]
    with pytest.raises(ValueError, match="animevideov3.*mild"):
        choose.choose_default(res, ["x"])
    with pytest.raises(ValueError, match="no candidates"):
        choose.choose_default(res, [])


def test_rule_table_names_the_misses() -> None:
    res = _with({"good": ((0.20, 0.25, 0.45), 7.0), "grid": ((0.19, 0.24, 0.44), 400.0)})
    text = qt.rule_table(choose.choose_default(res, ["good", "grid"]))
    assert "**grid** ← default" in text and "misses: no_more_periodic" in text


def test_photo_table_of_the_repository_is_valid() -> None:
    photos = qd.read_table(qd.TABLE)
    assert len(photos) >= 20
    groups = {p.group for p in photos}
    assert {"faces", "text", "texture"} <= groups
    manifest = (BENCH / "get_eval_photos.sh").read_text()
    for p in photos:  # every photo is fetched (and checksummed) by the script
        assert f"|{p.file}|" in manifest


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("a.png\tfaces\t1\t0\t0\t256", "7 tab-separated"),
        ("a.png\tcats\t1\t0\t0\t256\t256", "unknown group"),
        ("a.png\tfaces\t3\t0\t0\t256\t256", "reduce"),
        ("a.png\tfaces\t1\t0\t0\t250\t256", "multiple of 4"),
        ("a.png\tfaces\t1\tx\t0\t256\t256", "integers"),
    ],
)
def test_photo_table_errors_name_the_line(tmp_path: Path, row: str, error: str) -> None:
    table = tmp_path / "t.tsv"
    table.write_text("# header\n" + row + "\n")
    with pytest.raises(ValueError, match=f"t.tsv:2: .*{error}"):
        qd.read_table(table)


def test_sr_cache_returns_the_same_output_and_runs_once(tmp_path: Path) -> None:
    calls = []

    def up(lr: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return lr.repeat_interleave(4, -1).repeat_interleave(4, -2)

    method = qd.Method("m", up, tmp_path / "m.safetensors", "candidate", digest="ab" * 32)
    cache = qd.SRCache(tmp_path / "cache")
    lr = torch.floor(torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 255) / 255
    first = cache.upscale(method, lr)
    second = cache.upscale(method, lr)
    assert len(calls) == 1 and cache.hits == 1 and cache.misses == 1
    assert torch.equal(first, second)
    other = lr.clone()
    other[0, 0, 0, 0] = 1 - other[0, 0, 0, 0]
    cache.upscale(method, other)  # other input bytes: a miss
    assert len(calls) == 2
