"""Secured against unsecured live node (issue 29): the table and plot of docs/results/security/ from the
`benchmarks/node_latency.py --security ... --json` runs there (each run's command is in the README of that
folder). Groups runs by (transport probe on or off, security mode, governance protection) and prints, per
group, the spread over runs: decisions per second, frame sets delivered, end-to-end and node-added latency,
CPU of the node and of the publisher; the ratio to the unsecured wheels is of the means over runs.

    .venv/bin/python benchmarks/security_cost.py [--results docs/results/security]
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "docs" / "results" / "security"
LABELS = {("off", None): "unsecured (the wheels' Fast DDS 3.2.3)",
          ("build", None): "unsecured, security build loaded (Fast DDS 3.2.2)",
          ("enforce", "encrypt"): "SROS2 Enforce, protection encrypt (SROS2's default)",
          ("enforce", "sign"): "SROS2 Enforce, protection sign",
          ("enforce", "rtps-sign"): "SROS2 Enforce, protection rtps-sign"}

SHORT = {("off", None): "unsecured\n(wheels)", ("build", None): "unsecured\n(security build)",
         ("enforce", "encrypt"): "Enforce\nencrypt (default)", ("enforce", "sign"): "Enforce\nsign",
         ("enforce", "rtps-sign"): "Enforce\nrtps-sign"}


def group_runs(folder: Path) -> dict[tuple[bool, str, str | None], list[dict]]:
    """{(probe, mode, protection): [run figures]} from node_latency_*.json."""
    groups: dict[tuple[bool, str, str | None], list[dict]] = defaultdict(list)
    for path in sorted(folder.glob("node_latency_*.json")):
        run = json.loads(path.read_text())
        security = run.get("security", {"security": "off"})
        mode = security["security"]
        protection = security.get("protection") or ("encrypt" if mode == "enforce" else None)
        probe = run["transport_ms"]["p50"] is not None
        groups[(probe, mode, protection)].append({**run, "file": path.name})
    return dict(groups)


def spread(values: list[float], digits: int = 1) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if round(low, digits) == round(high, digits) else f"{low:.{digits}f}-{high:.{digits}f}"


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def table(groups: dict, *, probe: bool) -> list[str]:
    base = groups.get((probe, "off", None))
    lines = ["| configuration | runs | decisions/s (every modality) | frame sets delivered | end to end p50 / p95 ms "
             "| node adds p50 / p95 ms | node CPU cores | publisher CPU cores | node + publisher CPU cores "
             "| end to end p50, CPU vs unsecured |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, label in LABELS.items():
        runs = groups.get((probe, *key))
        if not runs:
            continue
        rate = [r["decisions"] / r["seconds"] for r in runs]
        complete = [r["decisions_complete"] / max(1, r["decisions"]) for r in runs]
        e2e50, e2e95 = ([r["end_to_end_ms"][q] for r in runs] for q in ("p50", "p95"))
        add50, add95 = ([r["node_adds_ms"][q] for r in runs] for q in ("p50", "p95"))
        node_cpu = [r["node_process_cpu_per_s"] for r in runs]
        pub_cpu = [r["publisher_cpu_per_s"] for r in runs]
        total_cpu = [n + p for n, p in zip(node_cpu, pub_cpu)]
        ratio = "1 (baseline)"
        if key != ("off", None) and base:
            base_cpu = mean([r["node_process_cpu_per_s"] + r["publisher_cpu_per_s"] for r in base])
            ratio = (f"{mean(e2e50) / mean([r['end_to_end_ms']['p50'] for r in base]):.2f}x, "
                     f"{mean(total_cpu) / base_cpu:.2f}x")
        lines.append(f"| {label} | {len(runs)} | {spread(rate, 2)} ({100 * min(complete):.0f} %) | "
                     f"{spread([100 * r['frame_sets_delivered'] for r in runs])} % | {spread(e2e50)} / {spread(e2e95)} "
                     f"| {spread(add50)} / {spread(add95)} | {spread(node_cpu, 2)} | {spread(pub_cpu, 2)} | "
                     f"{spread(total_cpu, 2)} | {ratio} |")
    return lines


def plot(groups: dict, out: Path) -> Path:
    """Bars per configuration (no probe): end-to-end p50 / p95 ms and node + publisher CPU, one dot per run."""
    from rcmcl_core.plots.results import pyplot, save_figure

    plt = pyplot()
    keys = [k for k in LABELS if groups.get((False, *k))]
    names = [SHORT[k] for k in keys]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for axis, parts, unit in ((left, (("end_to_end_ms", "p50"), ("end_to_end_ms", "p95")), "ms"),
                              (right, (("node_process_cpu_per_s", None), ("publisher_cpu_per_s", None)), "cores")):
        for offset, (field, q) in zip((-0.2, 0.2), parts):
            for i, key in enumerate(keys):
                values = [r[field][q] if q else r[field] for r in groups[(False, *key)]]
                axis.bar(i + offset, mean(values), width=0.38, color="tab:blue" if offset < 0 else "tab:orange",
                         label=(f"{q or field.split('_')[0]}" if i == 0 else None))
                axis.plot([i + offset] * len(values), values, "k.", markersize=5)
        axis.set_xticks(range(len(keys)), names, fontsize=8)
        axis.set_ylabel(unit)
        axis.legend(fontsize=8)
    left.set_title("end to end (publish - newest input stamp), per decision", fontsize=9)
    right.set_title("CPU per second of traffic: node process, publisher", fontsize=9)
    fig.suptitle("rcmcl node secured vs unsecured: Azure sizes at 30 Hz, 2 cores (dots: runs)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    groups = group_runs(args.results)
    lines = ["## Secured against unsecured, live-camera traffic\n",
             "Node and camera traffic publisher only (the deployment shape; `--no-probe`):\n",
             *table(groups, probe=False),
             "\nWith a third process, the transport probe, reading every sensor message too (each secured "
             "reader decrypts its own copy; the 2-core machine is then saturated):\n",
             *table(groups, probe=True),
             f"\n![secured vs unsecured]({plot(groups, args.results / 'security_cost.png').name})\n",
             "Files: " + ", ".join(r["file"] for runs in groups.values() for r in runs)]
    text = "\n".join(lines) + "\n"
    from rcmcl_core.atomic_io import atomic_write_bytes

    atomic_write_bytes(args.results / "summary.md", text.encode())
    print(text)


if __name__ == "__main__":
    main()
