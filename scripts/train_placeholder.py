"""Train the placeholder built-in model (compact x4, L1 loss, bicubic degradation) on real photos.

This is the stop-gap that ships as ``gensr-compact-x4`` until ``gensr train`` releases gensr's own
trained model. It uses gensr's own pieces (SRVGGNetCompact, MATLAB bicubic, model files).

The shipped file came from two runs (the first was stopped at its 1500-iteration save because the
machine was busy; the second continues from it), on the photos of scripts/gather_training_photos.sh
and validated on Set5 'butterfly' + Set14 'baboon' (not trained on)::

    python scripts/train_placeholder.py --train DATA/train --val VAL --iters 6000 --batch 16 --patch 96 \
        -o stage1.safetensors                       # stopped after the iteration-1500 save
    python scripts/train_placeholder.py --train DATA/train --val VAL --iters 2000 --batch 16 --patch 96 \
        --lr 2.5e-4 --seed 1 --init stage1.safetensors -o src/gensr/weights/gensr-compact-x4.safetensors
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gensr.archs.compact import SRVGGNetCompact
from gensr.degrade.resize import imresize
from gensr.metrics import psnr
from gensr.models import load_model, save_model


def load_dir(d: Path) -> list[torch.Tensor]:
    out = []
    for p in sorted(d.iterdir()):
        if p.suffix.lower() in {".png", ".jpg", ".jpeg"}:
            a = np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255
            out.append(torch.from_numpy(a).permute(2, 0, 1).contiguous())  # (3, H, W)
    return out


def degrade(hr: torch.Tensor, scale: int) -> torch.Tensor:
    return imresize(hr, scale=1 / scale, round_uint8=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--val", type=Path, required=True)
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=128, help="HR patch size")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", type=Path, help="start from this gensr model file (same architecture)")
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    scale = 4
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    train, val = load_dir(args.train), load_dir(args.val)
    net = SRVGGNetCompact(num_feat=64, num_conv=16, scale=scale, act_type="prelu")
    # PyTorch's default conv init shrinks the signal ~2x per layer, so 18 plain layers start as a
    # no-op and learn slowly; He init (PReLU slope 0.25) keeps it alive, the last conv starts small.
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    for m in convs:
        torch.nn.init.kaiming_normal_(m.weight, a=0.25, nonlinearity="leaky_relu")
        torch.nn.init.zeros_(m.bias)
    convs[-1].weight.data.mul_(0.1)
    done_before, previous = 0, None
    if args.init is not None:
        init, init_info = load_model(args.init)
        net.load_state_dict(init.state_dict())
        done_before, previous = int(init_info.info.get("iters", 0)), init_info.info
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.iters, eta_min=args.lr * 0.01)
    weights = torch.tensor([img.shape[1] * img.shape[2] for img in train], dtype=torch.float64)
    t0 = time.time()
    for it in range(1, args.iters + 1):
        idx = torch.multinomial(weights, args.batch, replacement=True, generator=gen)
        crops = []
        for i in idx.tolist():
            img = train[i]
            y = int(torch.randint(0, img.shape[1] - args.patch + 1, (1,), generator=gen))
            x = int(torch.randint(0, img.shape[2] - args.patch + 1, (1,), generator=gen))
            c = img[:, y : y + args.patch, x : x + args.patch]
            k = int(torch.randint(0, 8, (1,), generator=gen))
            c = torch.rot90(c, k % 4, dims=(1, 2))
            crops.append(c.flip(2) if k >= 4 else c)
        hr = torch.stack(crops)  # (B, 3, P, P)
        lr = degrade(hr, scale)  # (B, 3, P/4, P/4)
        loss = F.l1_loss(net(lr), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if it % 100 == 0 or it == args.iters:
            net.eval()
            with torch.no_grad():
                scores = []
                for img in val:
                    h, w = (img.shape[1] // scale) * scale, (img.shape[2] // scale) * scale
                    v = img[None, :, :h, :w]
                    v_lr = degrade(v, scale)
                    sr = net(v_lr).clamp(0, 1)
                    bic = imresize(v_lr, scale=scale).clamp(0, 1)
                    scores.append((float(psnr(sr, v, crop=scale)[0]), float(psnr(bic, v, crop=scale)[0])))
            net.train()
            el = time.time() - t0
            msg = {"iter": it, "l1": round(loss.item(), 5), "val_psnr_y": [round(s, 3) for s, _ in scores],
                   "bicubic_psnr_y": [round(b, 3) for _, b in scores], "s": round(el, 1)}
            print(json.dumps(msg), flush=True)  # noqa: T201
            if it % 500 == 0 or it == args.iters:
                info = {
                    "recipe": "placeholder: L1 only, bicubic x4 degradation (MATLAB imresize), Adam cosine",
                    "script": "scripts/train_placeholder.py",
                    "iters": done_before + it,
                    "batch": args.batch,
                    "patch": args.patch,
                    "lr": args.lr,
                    "seed": args.seed,
                    "train_data": sorted(p.name for p in args.train.iterdir()),
                    "val": {"images": sorted(p.name for p in args.val.iterdir()),
                            "psnr_y": msg["val_psnr_y"], "bicubic_psnr_y": msg["bicubic_psnr_y"]},
                }
                if previous is not None:
                    info["previous_stage"] = previous
                save_model(args.out, net, info=info, dtype=torch.float16)
    return 0 if math.isfinite(loss.item()) else 1


if __name__ == "__main__":
    sys.exit(main())
