"""Does bone input help the skeleton tell the hand gestures apart? A skeleton-only ST-GCN at the compact preset's
sizes, trained from scratch on the 6 skeleton-pair classes (thumbs up/down, open-close/hold hand, wag/point finger;
they differ only by hand-tip and thumb joints) of the cross-subject train split, tested on the test split, once
with joints only and once with joints + bone vectors (skeleton.bone_input). Prints one line per variant.

    python benchmarks/bone_input_proxy.py [EPOCHS]      # default 25; needs data/synth_compact (scripts/train_demo_checkpoint)
"""
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from rcmcl_core.config import preset  # noqa: E402
from rcmcl_core.data.dataset import ClipDataset, collate  # noqa: E402
from rcmcl_core.models.stgcn import SkeletonEncoder  # noqa: E402
torch.set_num_threads(1)
cfg = preset("compact")
def load(subset):
    ds = ClipDataset("data/synth_compact", split="xsub", subset=subset, config=cfg, train=False)
    xs, ys = [], []
    for b in DataLoader(ds, batch_size=64, collate_fn=collate):
        xs.append(b["skeleton"]); ys.append(b["label"])
    return torch.cat(xs), torch.cat(ys), ds.class_names
xtr, ytr, names = load("train"); xte, yte, _ = load("test")
hand = [names.index(n) for n in ("thumbs up","thumbs down","open and close hand","hold hand open","wag finger","point finger")]
def sel(x, y):
    m = torch.isin(y, torch.tensor(hand)); y = y[m]
    return x[m], torch.tensor([hand.index(int(v)) for v in y])
xtr, ytr = sel(xtr, ytr); xte, yte = sel(xte, yte)
print(len(ytr), len(yte), flush=True)
for bones in (False, True):
    torch.manual_seed(0)
    sc = dataclasses.replace(cfg.skeleton, bone_input=bones)
    enc = SkeletonEncoder(config=sc, clip=cfg.clip, feature_dim=128)
    head = torch.nn.Linear(128, 6)
    opt = torch.optim.AdamW([*enc.parameters(), *head.parameters()], lr=1e-3, weight_decay=0.05)
    t0 = time.time()
    for epoch in range(int(sys.argv[1]) if len(sys.argv) > 1 else 25):
        enc.train(); perm = torch.randperm(len(ytr))
        for i in range(0, len(perm), 32):
            idx = perm[i:i+32]
            x = xtr[idx]; x = torch.where(x != 0, x + 0.01 * torch.randn_like(x), x)
            loss = torch.nn.functional.cross_entropy(head(enc(x)), ytr[idx])
            opt.zero_grad(); loss.backward(); opt.step()
    enc.eval()
    with torch.no_grad():
        acc = (head(enc(xte)).argmax(1) == yte).float().mean().item()
    print(f"bones={bones}: test acc on the 6 skeleton-pair classes {100*acc:.1f} % ({time.time()-t0:.0f} s)", flush=True)
