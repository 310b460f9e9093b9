"""Does bone input help the skeleton tell the hand gestures apart? A skeleton-only ST-GCN at the compact preset's
sizes, trained from scratch on the 6 skeleton-pair classes (thumbs up/down, open-close/hold hand, wag/point finger;
they differ only by hand-tip and thumb joints) of the cross-subject train split, tested on the test split, once
with joints only and once with joints + bone vectors (skeleton.bone_input). Prints one line per variant.

    python benchmarks/bone_input_proxy.py [EPOCHS]   # default 25; needs data/synth_compact
                                                     # (scripts/train_demo_checkpoint)
"""
import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HAND_CLASSES = ("thumbs up", "thumbs down", "open and close hand", "hold hand open", "wag finger", "point finger")


def load(subset: str, config):
    """All clips of one subset of data/synth_compact: (skeletons, labels, class names)."""
    import torch
    from torch.utils.data import DataLoader

    from rcmcl_core.data.dataset import ClipDataset, collate
    dataset = ClipDataset("data/synth_compact", split="xsub", subset=subset, config=config, train=False)
    xs, ys = [], []
    for batch in DataLoader(dataset, batch_size=64, collate_fn=collate):
        xs.append(batch["skeleton"])
        ys.append(batch["label"])
    return torch.cat(xs), torch.cat(ys), dataset.class_names


def select(x, y, hand: list[int]):
    """Keep the hand-gesture clips, relabelled 0..5."""
    import torch
    keep = torch.isin(y, torch.tensor(hand))
    return x[keep], torch.tensor([hand.index(int(v)) for v in y[keep]])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("epochs", nargs="?", type=int, default=25, help="training epochs per variant (default 25)")
    args = parser.parse_args(argv)

    import torch

    from rcmcl_core.config import preset
    from rcmcl_core.models.stgcn import SkeletonEncoder
    torch.set_num_threads(1)
    cfg = preset("compact")
    xtr, ytr, names = load("train", cfg)
    xte, yte, _ = load("test", cfg)
    hand = [names.index(n) for n in HAND_CLASSES]
    xtr, ytr = select(xtr, ytr, hand)
    xte, yte = select(xte, yte, hand)
    print(len(ytr), len(yte), flush=True)
    for bones in (False, True):
        torch.manual_seed(0)
        encoder = SkeletonEncoder(config=dataclasses.replace(cfg.skeleton, bone_input=bones), clip=cfg.clip,
                                  feature_dim=128)
        head = torch.nn.Linear(128, len(HAND_CLASSES))
        opt = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=1e-3, weight_decay=0.05)
        t0 = time.time()
        for _ in range(args.epochs):
            encoder.train()
            perm = torch.randperm(len(ytr))
            for i in range(0, len(perm), 32):
                idx = perm[i:i + 32]
                x = xtr[idx]
                x = torch.where(x != 0, x + 0.01 * torch.randn_like(x), x)
                loss = torch.nn.functional.cross_entropy(head(encoder(x)), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        encoder.eval()
        with torch.no_grad():
            acc = (head(encoder(xte)).argmax(1) == yte).float().mean().item()
        print(f"bones={bones}: test acc on the 6 skeleton-pair classes {100 * acc:.1f} % "
              f"({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
