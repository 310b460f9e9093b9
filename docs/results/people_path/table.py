"""The before/after table of docs/results/people_path/README.md, from the node_latency.py --json files here.

    .venv/bin/python docs/results/people_path/table.py
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
STREAMS = ("rgb", "depth", "points", "skeleton")
print("| transport | code | delivered rgb / depth / points / skeleton (%) | one person: decisions/s (all present) "
      "| per person: decisions/s each | per person: stamp to publish p50 / p95 ms | one person: node adds "
      "p50 / p95 ms | node CPU (core-s/s) |")
print("|---|---|---|---|---|---|---|---|")
for suffix, transport in (("_shm", "shared memory (config/fastdds_shm_localhost.xml)"), ("", "default UDP")):
    for code in ("before", "after"):
        d = json.loads((HERE / f"{code}{suffix}.json").read_text())
        people = d["per_person"].values()
        lag = next(iter(people))["stamp_to_publish_ms"]
        delivered = " / ".join(f"{100 * d['delivered'][s]:.1f}" for s in STREAMS)
        print(f"| {transport} | {code} | {delivered} | "
              f"{d['single_person_decisions_per_s']:.2f} ({d['decisions_complete']} of {d['decisions']}) | "
              f"{sum(p['per_s'] for p in people) / len(people):.2f} | {lag['p50']:.0f} / {lag['p95']:.0f} | "
              f"{d['node_adds_ms']['p50']:.0f} / {d['node_adds_ms']['p95']:.0f} | {d['node_process_cpu_per_s']:.2f} |")
