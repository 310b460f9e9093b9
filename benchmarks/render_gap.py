"""How much accuracy the camera's image resolution costs: the demo bags' actions rendered two ways, no ROS.

    .venv/bin/python benchmarks/render_gap.py [--checkpoint PT] [--seeds 0 1 2] [--out FILE.json]

For each demo-bag seed (rcmcl_ros.bag.demo.plan: the same actions, subject and camera as `make-demo-bag
--seed N`) every action is rendered
- "native": directly at the checkpoint's image size (32x32 for compact), as a benchmark without
  supersampling renders its clips;
- "camera": at 128x128 (the demo bag's size) and shrunk to the checkpoint's size the way the node shrinks a
  camera image (generate.shrink_images: block mean for colour, block centre for depth; the cloud from the
  128x128 depth);
and classified on the windows of one action that the bag's evaluation calls "one action" (window ends 2-4 s
into the 4 s action, stride 0.1333 s), with all modalities and with the skeleton missing. A model trained on
"native" clips that loses accuracy on "camera" clips has learned the renderer's aliasing, not the action.
Prints a markdown table; writes the per-action counts to --out. Asserts nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

SEGMENT_S = 4.0
CAMERA_SIZE = 128
STRIDE_S = 0.1333
CONDITIONS = {"all three": (True, True, True), "skeleton missing": (True, False, True)}


def windows(clip: dict, *, fps: float, frames: int, window_s: float, present: tuple[bool, bool, bool],
            size: int) -> list[dict]:
    """Model batches (B=1) for every window end in [window_s, SEGMENT_S] on the stride grid."""
    from rcmcl_core.windowing import nearest_frame_indices, window_times

    out = []
    num_frames = len(clip["rgb"])
    for end_s in np.arange(window_s, SEGMENT_S + 1e-6, STRIDE_S):
        index = nearest_frame_indices(window_times(end_s, frames=frames, window_s=window_s), fps=fps,
                                      num_frames=num_frames)
        rgb = torch.from_numpy(clip["rgb"][index]).permute(0, 3, 1, 2).float() / 255.0
        depth = torch.from_numpy(clip["depth_mm"][index].astype(np.float32) / 1000.0)[:, None]
        assert rgb.shape[-1] == size
        skeleton = np.where(clip["skeleton_valid"][index][..., None, None], clip["skeleton"][index], 0.0)
        points = np.nan_to_num(clip["points"][index].astype(np.float32))
        out.append({"rgb": rgb[None], "depth": depth[None],
                    "skeleton": torch.from_numpy(skeleton.astype(np.float32))[None],
                    "points": torch.from_numpy(points)[None], "present": torch.tensor([present])})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled checkpoint")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from rcmcl_core.checkpoint import load_model
    from rcmcl_core.data.synthetic.body import make_subject
    from rcmcl_core.data.synthetic.classes import CLASS_NAMES
    from rcmcl_core.data.synthetic.generate import SYNTHETIC_PRESETS, make_clip, shrink_images, synthetic_intrinsics
    from rcmcl_ros.bag.demo import DemoBagConfig, plan
    import rcmcl_core

    checkpoint = args.checkpoint or Path(rcmcl_core.__file__).resolve().parent / "assets" / "rcmcl_compact.pt"
    model, loaded = load_model(checkpoint)
    clip_config = loaded.config.clip
    size = clip_config.image_size
    results: dict = {"checkpoint": str(checkpoint), "fps": args.fps, "seeds": {},
                     "checkpoint_sha1": hashlib.sha1(Path(checkpoint).read_bytes()).hexdigest()}
    for seed in args.seeds:
        demo = plan(DemoBagConfig(seed=seed))
        subject = make_subject(demo.subject, seed=0)
        per_seed = {}
        for index, (_, _, name) in enumerate(demo.actions):
            per_action = {}
            for render, render_size in (("native", size), ("camera", CAMERA_SIZE)):
                clip = make_clip(CLASS_NAMES.index(name), subject, 1, [seed, 1000 + index],
                                 intrinsics=synthetic_intrinsics(width=render_size, height=render_size),
                                 fps=args.fps, frames=int(round(SEGMENT_S * args.fps)),
                                 num_points=clip_config.num_points, max_bodies=clip_config.max_bodies,
                                 synthetic=SYNTHETIC_PRESETS["lite"])
                clip.update(shrink_images(clip["rgb"], clip["depth_mm"], factor=render_size // size))
                for condition, present in CONDITIONS.items():
                    batches = windows(clip, fps=args.fps, frames=clip_config.frames, window_s=clip_config.window_s,
                                      present=present, size=size)
                    with torch.no_grad():
                        hits = sum(int(model(b).logits.argmax(-1)) == CLASS_NAMES.index(name) for b in batches)
                    per_action[f"{render}/{condition}"] = [hits, len(batches)]
            per_seed[f"{index}:{name}"] = per_action
        results["seeds"][str(seed)] = per_seed
    print(table(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        print(f"\nwrote {args.out}")


def table(results: dict) -> str:
    keys = [f"{r}/{c}" for c in CONDITIONS for r in ("native", "camera")]
    lines = ["| seed | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for seed, actions in results["seeds"].items():
        cells = []
        for key in keys:
            hits = sum(a[key][0] for a in actions.values())
            total = sum(a[key][1] for a in actions.values())
            cells.append(f"{100.0 * hits / total:.1f} % ({hits}/{total})")
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
