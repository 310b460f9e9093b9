"""Paired accuracy differences between two methods of one results.json, per condition, with a bootstrap 95 %
interval over the test clips (rcmcl_core/evaluation/bootstrap.py: the same resampled clips for both).

    python benchmarks/paired_differences.py docs/results/protocol_compact/results.json rcmcl_finetune cmkm_finetune \
        --out docs/results/protocol_compact/rcmcl_vs_cmkm.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rcmcl_core.atomic_io import atomic_write_bytes  # noqa: E402
from rcmcl_core.evaluation.bootstrap import bits_to_array, paired_difference_interval  # noqa: E402
from rcmcl_core.evaluation.robustness import read_results  # noqa: E402


def paired_table(results: dict, first: str, second: str) -> str:
    lines = [f"| condition | {first} (%) | {second} (%) | difference (pts) | 95 % interval | interval excludes 0 |",
             "|---|---:|---:|---:|---|---|"]
    for condition, mine in results[first].items():
        theirs = results[second].get(condition)
        if theirs is None or mine.correct is None or theirs.correct is None:
            continue
        a, b = bits_to_array(mine.correct), bits_to_array(theirs.correct)
        low, high = paired_difference_interval(a, b)
        significant = "yes" if low > 0 or high < 0 else "no"
        lines.append(f"| {condition} | {mine.accuracy:.1f} | {theirs.accuracy:.1f} "
                     f"| {mine.accuracy - theirs.accuracy:+.1f} | [{low:+.1f}, {high:+.1f}] | {significant} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    results = read_results(args.results)
    for name in (args.first, args.second):
        if name not in results:
            parser.error(f"{args.results} has no method {name!r}; it has {', '.join(results)}")
    text = (f"# {args.first} - {args.second}, paired over the {args.results.name} test clips\n\n"
            f"`python benchmarks/paired_differences.py {args.results} {args.first} {args.second}`\n\n"
            + paired_table(results, args.first, args.second) + "\n")
    print(text)
    if args.out:
        atomic_write_bytes(args.out, text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
