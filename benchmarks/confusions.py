"""The most frequent confusions of a checkpoint on the synthetic test split, with some modalities absent.

    python benchmarks/confusions.py CHECKPOINT [ABSENT]      # ABSENT: comma list, e.g. rgbd or rgbd,points; "" none

Prints the error count and the top 25 (true -> predicted) pairs; needs data/synth_compact.
"""
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from rcmcl_core.augment.degrade import drop_modalities  # noqa: E402
from rcmcl_core.checkpoint import load_model  # noqa: E402
from rcmcl_core.data.dataset import ClipDataset, collate  # noqa: E402


def main() -> int:
    torch.set_num_threads(1)
    model, loaded = load_model(sys.argv[1])
    model.eval()
    absent = [a for a in sys.argv[2].split(",") if a] if len(sys.argv) > 2 else []
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
