"""Quality benchmark: three tracks of held-out photos, gensr's models against bicubic and the peers.

Run:  benchmarks/get_eval_photos.sh                    # once: the 31 held-out photos
      python benchmarks/quality.py [--model FILE ...]   # writes the "quality" section of RESULTS.md
      python benchmarks/quality.py --json q.json        # ... and every number as JSON

What it does, deterministically:

1. HR images: each photo of ``eval_photos.tsv`` (file, group, reduce, crop box) is read as 8-bit RGB
   (grey files as three equal channels), reduced ``x1/reduce`` with MATLAB bicubic (antialiased) and
   rounded to 8 bits where ``reduce > 1`` (the large wallpapers: removes JPEG blocking, makes the
   content dense), then cropped to its box (chosen by eye on the face, text or texture that matters).
   Written as PNG under ``$CACHE/eval-hr/<group>/`` (so ``gensr eval --data`` can use them too).
2. Three tracks (``gensr.evaluate.TRACKS``), the LR of image ``i`` made by
   :func:`gensr.evaluate.make_lr` with seed ``--seed + i``: ``bicubic`` (clean, MATLAB bicubic x1/4),
   ``mild`` (light blur, light noise, JPEG 60-90) and ``realistic`` (Real-ESRGAN's heavy second order).
3. Methods: bicubic and bilinear; gensr's built-in x4 models; each ``--model FILE``; the peers
   Real-ESRGAN x4plus, realesr-animevideov3 and RealSR DF2K (their released ncnn files, imported once with
   ``gensr import``, run by gensr on the CPU in fp32, untiled). Model outputs are cached as PNG under
   ``$CACHE/quality-sr`` keyed by the model file's and the LR's bytes, so a re-run with a new candidate
   runs only the candidate.
4. Scores (:mod:`gensr.evaluate`): PSNR-Y / SSIM-Y (4 px border), LPIPS-alex, and the artefact measures of
   :mod:`gensr.metrics.artefacts`: ``periodic`` (power ratio at the 4-px period, bicubic's value beside every
   model's), ``grey_spread`` (channel spread on the 7 grey photos) and ``tint`` (channel-mean shift on the
   colour photos). Means per track, per group and overall; a summary across tracks; the default-model
   rule (:mod:`choose`) applied to the gensr models.

``$CACHE`` is ``$GENSR_BENCH_CACHE`` or ``~/.cache/gensr/benchmarks``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import quality_data as qd  # noqa: E402
import quality_tables as qt  # noqa: E402
from choose import choose_default  # noqa: E402

SCALE = 4
PEERS = ("realesrgan-x4plus", "realesr-animevideov3-x4", "REALSR_DF2K_UP4X")
"""The peers compared with (of :data:`common.PEERS`; the anime-only x4plus-anime is not a photo model)."""
INTERPOLATIONS = ("bicubic", "bilinear")
BUTTERFLY_BICUBIC_DB = 22.10
"""Published MATLAB-bicubic x4 PSNR-Y of Set5 'butterfly' (the protocol check)."""


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)  # noqa: T201


def gather_methods(extra: list[Path], peer_precision: str) -> tuple[list[qd.Method], list[str], list[str]]:
    """Interpolations, built-ins, ``extra`` model files, peers: ``(methods, candidate names, notes)``."""
    from gensr.evaluate import interpolation_method
    from gensr.models import BUILTIN_MODELS, WEIGHTS_DIR, read_model_info

    methods = [
        qd.Method(n, interpolation_method(n, SCALE).upscale, None, "interpolation") for n in INTERPOLATIONS
    ]
    notes: list[str] = []
    entries: list[tuple[str, Path, str]] = [(n, WEIGHTS_DIR / f, "gensr") for n, f in BUILTIN_MODELS.items()]
    entries += [(m.stem, m, "candidate") for m in extra]
    for name in PEERS:
        try:
            entries.append((name, common.imported_model(name), "peer"))
        except (FileNotFoundError, RuntimeError) as e:
            notes.append(f"`{name}` was skipped: {e}")
    candidates = []
    for name, path, kind in entries:
        if not path.is_file():
            notes.append(f"`{name}` was skipped: {path} does not exist")
            continue
        if read_model_info(path).scale != SCALE:
            continue  # gensr-x2 and other scales: not on this x4 benchmark
        methods.append(qd.model(name, path, kind, peer_precision if kind == "peer" else "fp32"))
        if kind != "peer":
            candidates.append(name)
    return methods, candidates, notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=Path, default=common.PHOTOS, help="folder from get_eval_photos.sh")
    p.add_argument("--table", type=Path, default=qd.TABLE, help="photo table (file, group, reduce, box)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the mild/realistic tracks (image i: seed + i)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (fixed for exact re-runs)")
    p.add_argument("--out", type=Path, default=common.RESULTS, help="markdown file to write the section into")
    p.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    p.add_argument("--json", type=Path, help="also write every number (and the default choice) as JSON")
    p.add_argument("--model", type=Path, action="append", default=[], help="also evaluate this model file")
    p.add_argument("--tracks", nargs="+", default=None, help="subset of the tracks (default: all three)")
    p.add_argument(
        "--peer-precision", choices=("fp32", "bf16"), default="fp32",
        help="precision of the RRDB peers (bf16: several times faster on CPUs with native bf16; noted)",
    )  # fmt: skip
    args = p.parse_args(argv)

    from gensr.evaluate import TRACKS

    tracks = args.tracks or list(TRACKS)
    if unknown := [t for t in tracks if t not in TRACKS]:
        _say(f"quality.py: unknown track(s) {', '.join(unknown)}; choose from {', '.join(TRACKS)}")
        return 2
    try:
        photos = qd.read_table(args.table)
        hr = qd.prepare_hr(args.photos, photos, common.CACHE / "eval-hr")
    except (OSError, ValueError) as e:
        _say(f"quality.py: {e} (run benchmarks/get_eval_photos.sh first?)")
        return 2
    info = common.machine_info()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    methods, candidates, notes = gather_methods(args.model, args.peer_precision)
    if args.peer_precision != "fp32":
        notes.append(
            f"the peers ran in {args.peer_precision} (autocast; x4plus's bf16 output is 52 dB PSNR from its "
            "fp32 output on the camera crop) to fit the run into a loaded machine; gensr's models in fp32."
        )
    from gensr.metrics.lpips import LPIPS

    lpips = LPIPS("alex").eval()
    cache = qd.SRCache(common.CACHE / "quality-sr")
    results: dict[str, Any] = {
        "scale": SCALE,
        "seed": args.seed,
        "photos": qd.photo_json(photos),
        "tracks": {},
    }
    for track in tracks:
        scores = qd.run_track(track, hr, methods, seed=args.seed, lpips=lpips, cache=cache, say=_say)
        results["tracks"][track] = qd.summarise(scores, photos)
    minutes = (time.perf_counter() - t_start) / 60
    results["minutes"] = minutes
    results["methods"] = {m.name: {"kind": m.kind, "file": str(m.path) if m.path else None} for m in methods}
    choice = None
    if len(tracks) == len(TRACKS) and candidates:
        try:
            choice = choose_default(results, candidates)
            results["default_choice"] = choice.to_json()
            missed = choice.verdicts[choice.default].missed
            _say(
                f"the default-model rule chooses {choice.default}"
                + (f" (misses {', '.join(missed)})" if missed else "")
            )
        except ValueError as e:
            notes.append(f"the default rule could not be applied: {e}")
    body = qt.section(results, methods, photos, info, args.threads, minutes, notes, choice, cache.hits)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(qt.jsonable(results), indent=1) + "\n")
        _say(f"wrote {args.json}")
    if args.no_write:
        print(body)  # noqa: T201
    else:
        common.write_section("quality", body, args.out)
        _say(f"wrote section 'quality' of {args.out} ({minutes:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
