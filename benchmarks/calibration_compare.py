"""Accuracy of two checkpoints' gate calibrations, condition by condition (issue 14: "accuracy under each condition
is no worse than with today's gating").

    python benchmarks/calibration_compare.py NEW/calibration.json OLD/calibration.json --out compare.md

Both files come from `rcmcl plot calibration` on the same clips (same --max-clips and --seed, same health rule);
the script refuses files whose clip count, seed or health setting differ. Prints and writes one row per fault and
severity (clean once): accuracy new, old and the difference, then the smallest and largest difference.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _read(path: Path) -> tuple[dict, dict[str, float]]:
    """-> (the header fields that must agree, accuracy (%) per condition: 'clean' or '<fault>@<severity>')."""
    data = json.loads(path.read_text())
    accuracy = {}
    for curve in data["curves"]:
        for severity, value in zip(curve["severities"], curve["accuracy"]):
            accuracy["clean" if severity == 0 else f"{curve['fault']}@{severity:g}"] = value
    return {k: data.get(k) for k in ("clips", "seed", "health_rule", "subset")}, accuracy


def compare(new: Path, old: Path) -> tuple[list[tuple[str, float, float, float]], str]:
    """-> rows (condition, new %, old %, new - old) over the conditions both files hold, and the markdown."""
    new_header, new_accuracy = _read(new)
    old_header, old_accuracy = _read(old)
    if new_header != old_header:
        raise SystemExit(f"the two calibrations ran on different clips or rules: {new_header} vs {old_header}")
    rows = [(name, value, old_accuracy[name], value - old_accuracy[name])
            for name, value in new_accuracy.items() if name in old_accuracy]
    diffs = [row[3] for row in rows]
    lines = [f"new: {new}", f"old: {old}", "", "| condition | new (%) | old (%) | new - old |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {a:.1f} | {b:.1f} | {d:+.1f} |" for name, a, b, d in rows]
    lines += ["", f"{len(rows)} conditions: new - old from {min(diffs):+.1f} to {max(diffs):+.1f} points; "
                  f"new worse in {sum(d < 0 for d in diffs)}"]
    return rows, "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("new", type=Path)
    p.add_argument("old", type=Path)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    _, text = compare(args.new, args.old)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
