"""The GPU user's NTU recipe (docs/DATASET.md, "Training on NTU at full scale") on the CPU, command line by
command line, on a format-faithful NTU-120 fixture: `rcmcl prepare ntu`, `torchrun ... rcmcl_core.cli pretrain
--data ntu120 --split xsub` with two gloo processes, `rcmcl finetune`, then the node's evaluate-bag running the
NTU-trained checkpoint: NTU's class names come out, the Azure 32-joint skeleton is read into NTU-25, and with
two people in view the second fills the checkpoint's second body slot (NTU's mutual actions)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rcmcl_core.data.ntu.classes import ntu_class_names

ROOT = Path(__file__).resolve().parents[3]
TINY_BUDGET = "preset: tiny\noptim:\n  pretrain_epochs: 1\n  finetune_epochs: 1\n  batch_size: 4\n  warmup_epochs: 0\n"


def run(*argv: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("ntu_recipe")
    (work / "budget.yaml").write_text(TINY_BUDGET)
    steps = [
        ("-m", "rcmcl_core.cli", "prepare", "ntu-fixture", "--out", "fixture", "--version", "120", "--samples", "24",
         "--frames", "30", "--modalities", "skeleton,depth"),
        ("-m", "rcmcl_core.cli", "prepare", "ntu", "--root", "fixture", "--version", "120", "--out", "data/ntu120",
         "--workers", "2", "--modalities", "skeleton,depth", "--preset", "tiny", "--quiet"),
        ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "rcmcl_core.cli", "pretrain",
         "--data", "ntu120", "--split", "xsub", "--config", "budget.yaml", "--out", "runs/ntu120/pretrain",
         "--threads", "1", "--no-heldout", "--no-progress"),
        ("-m", "rcmcl_core.cli", "finetune", "--data", "ntu120", "--split", "xsub", "--config", "budget.yaml",
         "--init", "runs/ntu120/pretrain/pretrain.pt", "--out", "runs/ntu120/finetune", "--threads", "1",
         "--no-heldout", "--no-progress"),
    ]
    for step in steps:
        result = run(*step, cwd=work)
        assert result.returncode == 0, f"{' '.join(step)}\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
    return {"work": work, "checkpoint": work / "runs/ntu120/finetune/finetune.pt"}


def test_the_recipe_pretrains_under_torchrun_and_fine_tunes_to_ntu_s_classes(recipe):
    from rcmcl_core.checkpoint import load_checkpoint

    metrics = (recipe["work"] / "runs/ntu120/pretrain/metrics.csv").read_text().splitlines()
    assert metrics[0].startswith("stage,epoch,step") and len(metrics) >= 2
    checkpoint = load_checkpoint(recipe["checkpoint"])
    assert checkpoint.labels == ntu_class_names(120) and checkpoint.config.clip.max_bodies == 2


def decisions(out: Path) -> list[dict]:
    with open(out / "decisions.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_node_runs_the_ntu_checkpoint_on_an_azure_bag_with_ntu_labels(recipe, tmp_path):
    from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag

    bag = make_demo_bag(DemoBagConfig(actions=1, segment_s=2.0, image_size=32), out=tmp_path / "bag", progress=False)
    result = run("-m", "rcmcl_ros", "evaluate-bag", str(bag), "--checkpoint", str(recipe["checkpoint"]), "--out",
                 str(tmp_path / "eval"), "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = decisions(tmp_path / "eval")
    names = set(ntu_class_names(120))
    assert rows and all(row["label"] in names for row in rows)
    assert f"score_{ntu_class_names(120)[49]}" in rows[0]            # A050, a mutual action, is scored


def test_two_people_in_view_fill_the_second_body_of_the_ntu_model(recipe, tmp_path):
    from rcmcl_ros.bag.demo import DemoBagConfig
    from rcmcl_ros.bag.demo_people import make_people_demo_bag

    bag = make_people_demo_bag(DemoBagConfig(actions=1, segment_s=2.5, fps=10.0, image_size=48, cloud_stride=2,
                                             faults=()), people=2, out=tmp_path / "bag", progress=False)
    from rcmcl_ros.bag.evaluate import evaluate_bag
    from rcmcl_ros.bag.files import DEFAULT_TOPICS
    from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig

    pipeline = Pipeline.from_checkpoint(recipe["checkpoint"], config=PipelineConfig(device="cpu", warmup=False))
    seen = []
    forward = pipeline.runtime.forward
    pipeline.runtime.forward = lambda batch, **kw: (seen.append(batch["skeleton"].clone()), forward(batch, **kw))[1]
    result = evaluate_bag(bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False)
    assert result.decisions and all(d.label in set(ntu_class_names(120)) for d in result.decisions)
    second = [bool(s[0, :, 1].abs().sum() > 0) for s in seen]          # (1, T, M=2, 25, 3): body slot 2
    assert sum(second) >= 0.5 * len(second), "the second person should fill body 2 in most windows"
