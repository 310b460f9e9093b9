"""The most frequent confusions of a checkpoint on the synthetic test split, with some modalities absent.

    python benchmarks/confusions.py CHECKPOINT [ABSENT]      # ABSENT: comma list, e.g. rgbd or rgbd,points; "" none

Prints the error count and the top 25 (true -> predicted) pairs; needs data/synth_compact.
"""
import argparse
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="the checkpoint to evaluate")
    parser.add_argument("absent", nargs="?", default="",
                        help='comma list of absent modalities, e.g. rgbd or rgbd,points (default "": none)')
    args = parser.parse_args(argv)

    import torch
    from torch.utils.data import DataLoader

    from rcmcl_core.augment.degrade import drop_modalities
    from rcmcl_core.checkpoint import load_model
    from rcmcl_core.data.dataset import ClipDataset, collate
    torch.set_num_threads(1)
    model, loaded = load_model(args.checkpoint)
    model.eval()
    absent = [a for a in args.absent.split(",") if a]
    dataset = ClipDataset("data/synth_compact", split="xsub", subset="test", config=loaded.config, train=False)
    errors, counts = collections.Counter(), collections.Counter()
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=64, collate_fn=collate):
            batch = drop_modalities(batch, absent=absent)
            for truth, guess in zip(batch["label"].tolist(), model(batch).logits.argmax(1).tolist()):
                counts[truth] += 1
                if truth != guess:
                    errors[(truth, guess)] += 1
    names = loaded.labels
    print(f"absent: {absent or 'none'}; errors {sum(errors.values())} of {sum(counts.values())}")
    for (truth, guess), count in errors.most_common(25):
        print(f"{names[truth]:>20} -> {names[guess]:<20} {count:4d} / {counts[truth]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
