"""The rule for the default model, applied to the JSON of ``benchmarks/quality.py``.

A candidate becomes the default only if it

1. ``beats_bicubic``: has a lower mean LPIPS than bicubic on every track;
2. ``beats_animevideov3``: has a lower mean LPIPS than Real-ESRGAN animevideov3 on every track;
3. ``no_more_periodic``: shows no more periodic artefact than Real-ESRGAN x4plus on the same photos (its
   ``periodic`` ratio, averaged over every image of every track, is at most x4plus's);
4. ``best_rank``: has the best mean LPIPS rank among the candidates (rank 1 = lowest LPIPS on a track,
   ranks averaged over the tracks; ties share the best).

If no candidate meets every condition, the default is the one that meets most (ties: the better mean
rank, then the lower mean LPIPS), and the result says which conditions it misses.

The results are ``{"tracks": {track: {"methods": {name: {"mean": {"lpips": ..., "periodic": ...}}}}}}``
(``quality.py --json``); ``choose_default`` needs no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BICUBIC",
    "ANIMEVIDEO",
    "X4PLUS",
    "CONDITIONS",
    "Verdict",
    "Choice",
    "mean_ranks",
    "choose_default",
]

BICUBIC = "bicubic"
ANIMEVIDEO = "realesr-animevideov3-x4"
X4PLUS = "realesrgan-x4plus"
CONDITIONS = ("beats_bicubic", "beats_animevideov3", "no_more_periodic", "best_rank")


@dataclass(frozen=True)
class Verdict:
    """One candidate: which conditions it meets, and the numbers they were decided on."""

    name: str
    met: dict[str, bool]
    mean_rank: float
    lpips: dict[str, float]
    """Mean LPIPS per track."""
    periodic: float
    """Mean periodic ratio over every image of every track."""

    @property
    def missed(self) -> list[str]:
        return [c for c in CONDITIONS if not self.met[c]]

    @property
    def n_met(self) -> int:
        return sum(self.met.values())


@dataclass(frozen=True)
class Choice:
    """The chosen default and every candidate's verdict (candidates in the order given)."""

    default: str
    meets_all: bool
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    """The references' numbers: bicubic's and animevideov3's LPIPS per track, x4plus's periodic ratio."""

    def to_json(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "meets_all": self.meets_all,
            "rule": list(CONDITIONS),
            "reference": self.reference,
            "candidates": {
                n: {"met": v.met, "missed": v.missed, "mean_rank": v.mean_rank, "lpips": v.lpips,
                    "periodic": v.periodic}
                for n, v in self.verdicts.items()
            },
        }  # fmt: skip


def _lpips(results: dict[str, Any], track: str, name: str) -> float:
    try:
        value = results["tracks"][track]["methods"][name]["mean"]["lpips"]
    except KeyError as e:
        raise ValueError(f"results have no LPIPS of {name!r} on track {track!r}") from e
    if value is None or math.isnan(value):
        raise ValueError(f"results have no LPIPS of {name!r} on track {track!r} (null)")
    return float(value)


def _periodic(results: dict[str, Any], name: str) -> float:
    """Mean periodic ratio of ``name`` over every image of every track."""
    values = []
    for track in results["tracks"].values():
        images = track["methods"].get(name, {}).get("images", {})
        values += [r["periodic"] for r in images.values() if r.get("periodic") is not None]
    if not values:
        raise ValueError(f"results have no periodic measure of {name!r}")
    return sum(values) / len(values)


def mean_ranks(results: dict[str, Any], names: list[str]) -> dict[str, float]:
    """Mean over the tracks of each name's LPIPS rank among ``names`` (1 = best; ties share the lower)."""
    tracks = list(results["tracks"])
    ranks: dict[str, float] = {n: 0.0 for n in names}
    for t in tracks:
        values = {n: _lpips(results, t, n) for n in names}
        for n in names:
            ranks[n] += 1 + sum(v < values[n] for v in values.values())
    return {n: r / len(tracks) for n, r in ranks.items()}


def choose_default(results: dict[str, Any], candidates: list[str]) -> Choice:
    """Apply the rule (module docstring) to ``candidates`` (method names in ``results``).

    Raises:
        ValueError: no candidates, or a track lacks a number the rule needs (bicubic, animevideov3,
            x4plus or a candidate).
    """
    if not candidates:
        raise ValueError("choose_default: no candidates")
    tracks = list(results.get("tracks", {}))
    if not tracks:
        raise ValueError("choose_default: results have no tracks")
    bic = {t: _lpips(results, t, BICUBIC) for t in tracks}
    anime = {t: _lpips(results, t, ANIMEVIDEO) for t in tracks}
    x4plus_periodic = _periodic(results, X4PLUS)
    ranks = mean_ranks(results, candidates)
    best = min(ranks.values())
    verdicts = {}
    for n in candidates:
        lp = {t: _lpips(results, t, n) for t in tracks}
        periodic = _periodic(results, n)
        met = {
            "beats_bicubic": all(lp[t] < bic[t] for t in tracks),
            "beats_animevideov3": all(lp[t] < anime[t] for t in tracks),
            "no_more_periodic": periodic <= x4plus_periodic,
            "best_rank": ranks[n] == best,
        }
        verdicts[n] = Verdict(n, met, ranks[n], lp, periodic)
    order = sorted(
        candidates,
        key=lambda n: (-verdicts[n].n_met, verdicts[n].mean_rank, sum(verdicts[n].lpips.values())),
    )
    chosen = verdicts[order[0]]
    reference = {"bicubic_lpips": bic, "animevideov3_lpips": anime, "x4plus_periodic": x4plus_periodic}
    return Choice(chosen.name, chosen.n_met == len(CONDITIONS), verdicts, reference)
