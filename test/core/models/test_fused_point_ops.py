"""The Triton kernels of fused_point_ops give the torch reference's (point_ops) indices exactly.

They run on CPU tensors through triton's interpreter: each test sets TRITON_INTERPRET=1 for itself
(monkeypatch), and fused_point_ops builds its kernels per mode when first used, so the variable does not
leak into other tests and needs no conftest. triton is imported, not skipped: a broken install fails here.
Sizes are small because the interpreter runs every program in Python.
"""
from types import SimpleNamespace

import pytest
import torch
import triton  # a missing or broken triton must fail this module, not skip it

from rcmcl_core.config import SetAbstractionConfig, preset
from rcmcl_core.geometry import point_ops
from rcmcl_core.models import fused_point_ops
from rcmcl_core.models.fused_point_ops import fused_ball_query, fused_farthest_point_sample
from rcmcl_core.models.pointnet import SetAbstraction


@pytest.fixture
def interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert fused_point_ops.interpreting()


def _cloud(batch: int, points: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, points, 3, generator=torch.Generator().manual_seed(seed)) * 0.3


def _same_fps(xyz: torch.Tensor, samples: int) -> torch.Tensor:
    fused = fused_farthest_point_sample(xyz, samples)
    reference = point_ops.farthest_point_sample(xyz, samples)
    assert fused.dtype == torch.long and torch.equal(fused, reference)
    return fused


def _same_ball_query(xyz: torch.Tensor, centroids: torch.Tensor, radius_m: float, neighbours: int) -> torch.Tensor:
    fused = fused_ball_query(xyz, centroids, radius_m=radius_m, neighbours=neighbours)
    reference = point_ops.ball_query(xyz, centroids, radius_m=radius_m, neighbours=neighbours)
    assert fused.dtype == torch.long and torch.equal(fused, reference)
    return fused


def test_fps_matches_the_reference_on_random_clouds(interpreter):
    xyz = _cloud(2, 100)                                   # N not a power of two: masked lanes
    idx = _same_fps(xyz, 25)
    assert (idx[:, 0] == 0).all() and all(len(set(row.tolist())) == 25 for row in idx)


def test_fps_edge_cases_match_the_reference(interpreter):
    _same_fps(_cloud(1, 64, seed=1), 16)                    # a batch of one
    idx = _same_fps(_cloud(2, 24, seed=2), 24)              # N == S: every point, once
    assert all(sorted(row.tolist()) == list(range(24)) for row in idx)
    duplicates = _cloud(2, 8, seed=3).repeat(1, 4, 1)       # each point four times: ties go to the lowest index
    idx = _same_fps(duplicates, 12)
    assert (idx[:, :8] < 8).all()
    # Padded clouds as replace_missing_points leaves them: all NaN -> all zeros; some NaN -> copies of a point.
    padded = _cloud(3, 40, seed=4)
    padded[0] = float("nan")
    padded[1, 10:] = float("nan")
    filled, has_points = point_ops.replace_missing_points(padded)
    assert has_points.tolist() == [False, True, True]
    idx = _same_fps(filled, 12)
    assert (idx[0] == 0).all()                              # all-zero cloud: every distance is 0


def test_ball_query_matches_the_reference_with_full_and_partial_balls(interpreter):
    xyz = _cloud(2, 60, seed=5)
    centroids = point_ops.gather_points(xyz, point_ops.farthest_point_sample(xyz, 6))
    wide = _same_ball_query(xyz, centroids, 0.4, 8)         # most balls hold more than K points
    narrow = _same_ball_query(xyz, centroids, 0.08, 8)      # most hold fewer: slots repeat the first
    assert (wide[..., 1:] != wide[..., :1]).any() and (narrow == narrow[..., :1]).any()
    _same_ball_query(xyz[:1], centroids[:1, :3], 0.2, 5)    # a batch of one


def test_ball_query_padding_rules_match_the_reference(interpreter):
    xyz = _cloud(2, 5, seed=6)
    _same_ball_query(xyz, xyz[:, :3], 10.0, 8)              # N < K: every point, then the first repeated
    far = torch.tensor([[[5.0, 5.0, 5.0], [0.0, 0.0, 0.01]]]).repeat(2, 1, 1)
    idx = _same_ball_query(xyz, far, 0.001, 4)              # empty balls: the nearest point fills every slot
    assert (idx == idx[..., :1]).all()
    zeros = torch.zeros(2, 30, 3)                           # all-zero padded clouds: every point is inside
    idx = _same_ball_query(zeros, zeros[:, :4], 0.1, 6)
    assert idx[0, 0].tolist() == list(range(6))
    duplicates = _cloud(1, 6, seed=7).repeat(1, 3, 1)
    _same_ball_query(duplicates, duplicates[:, :6], 0.05, 4)


def test_ball_query_carries_counts_and_ties_across_blocks(interpreter, monkeypatch):
    monkeypatch.setattr(fused_point_ops, "BALL_QUERY_BLOCK", 16)   # 70 points: five blocks per program
    xyz = _cloud(1, 35, seed=8).repeat(1, 2, 1)            # the nearest point's twin sits in a later block
    centroids = torch.cat([point_ops.gather_points(xyz, torch.tensor([[0, 20, 34]])),
                           torch.tensor([[[3.0, 0.0, 0.0]]])], dim=1)
    _same_ball_query(xyz, centroids, 0.25, 24)
    _same_ball_query(xyz, centroids, 0.001, 3)


def test_the_dispatcher_uses_the_kernels_only_on_cuda_float32_with_triton(monkeypatch):
    def cloud(**kw):   # a stand-in for a tensor: selection reads only these attributes
        return SimpleNamespace(**{"is_cuda": True, "dtype": torch.float32, "shape": (16, 1024, 3), **kw})
    monkeypatch.delenv(fused_point_ops.DISABLE_ENV, raising=False)
    assert fused_point_ops.use_fused(cloud())
    assert not fused_point_ops.use_fused(cloud(is_cuda=False))
    assert not fused_point_ops.use_fused(cloud(dtype=torch.float64))
    assert not fused_point_ops.use_fused(cloud(shape=(1, fused_point_ops.MAX_FUSED_POINTS + 1, 3)))
    monkeypatch.setenv(fused_point_ops.DISABLE_ENV, "0")
    assert not fused_point_ops.use_fused(cloud())
    monkeypatch.delenv(fused_point_ops.DISABLE_ENV)
    monkeypatch.setattr(fused_point_ops, "load_triton", lambda: None)    # not installed
    assert not fused_point_ops.use_fused(cloud())


def test_on_cpu_the_dispatcher_returns_the_reference_and_the_kernels_refuse_without_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    xyz = _cloud(2, 50, seed=9)
    idx = fused_point_ops.farthest_point_sample(xyz, 10)
    assert torch.equal(idx, point_ops.farthest_point_sample(xyz, 10))
    centroids = point_ops.gather_points(xyz, idx)
    assert torch.equal(fused_point_ops.ball_query(xyz, centroids, radius_m=0.2, neighbours=4),
                       point_ops.ball_query(xyz, centroids, radius_m=0.2, neighbours=4))
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        fused_farthest_point_sample(xyz, 10)
    with pytest.raises(ValueError, match="num_samples"):
        fused_point_ops.farthest_point_sample(xyz, 51)


def test_the_kernels_reject_what_the_reference_rejects(interpreter):
    with pytest.raises(ValueError, match="num_samples"):
        fused_farthest_point_sample(_cloud(1, 8), 9)
    with pytest.raises(TypeError, match="float32"):
        fused_farthest_point_sample(_cloud(1, 8).double(), 4)


def test_the_kernels_compile_for_an_h100_without_fma_contraction(monkeypatch, tmp_path):
    """No GPU is needed to compile: triton lowers both kernels to a cubin for sm_90 here. The launch option
    enable_fp_fusion=False must keep x*x + y*y + z*z as separate roundings (no fma), as the reference."""
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))    # compile for real, and not into ~/.triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kernels = fused_point_ops._kernels(False)
    cloud = {"xyz_ptr": "*fp32", "out_ptr": "*i64", "num_points": "i32"}
    sources = {
        "fps": ASTSource(fn=kernels.farthest_point_sample_kernel,
                         signature={**cloud, "num_samples": "i32", "BLOCK_N": "constexpr"},
                         constexprs={"BLOCK_N": 1024}),
        "ball query": ASTSource(fn=kernels.ball_query_kernel,
                                signature={"xyz_ptr": "*fp32", "centroid_ptr": "*fp32", "out_ptr": "*i64",
                                           "num_points": "i32", "num_centroids": "i32", "radius_sq": "fp32",
                                           "neighbours": "i32", "BLOCK_N": "constexpr", "BLOCK_K": "constexpr"},
                                constexprs={"BLOCK_N": 1024, "BLOCK_K": 32}),
    }
    for name, source in sources.items():
        compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32),
                                  options={"num_warps": 4, "enable_fp_fusion": False})
        assert compiled.asm["cubin"], name
        ptx = compiled.asm["ptx"]
        assert "mul.rn.f32" in ptx and "fma." not in ptx, name


def test_a_set_abstraction_level_through_the_kernels_equals_the_reference_level(interpreter, monkeypatch):
    level = SetAbstraction(config=SetAbstractionConfig(num_centroids=6, radius_m=0.3, neighbours=4,
                                                       mlp_channels=(8,)), in_channels=0).eval()
    xyz = _cloud(2, 24, seed=10)
    with torch.no_grad():
        reference = level(xyz, None)
        monkeypatch.setattr(fused_point_ops, "use_fused", lambda _: True)   # as on a GPU, through the interpreter
        launched = []
        for name in ("fused_farthest_point_sample", "fused_ball_query"):
            kernel = getattr(fused_point_ops, name)
            monkeypatch.setattr(fused_point_ops, name,
                                lambda *a, kernel=kernel, name=name, **k: launched.append(name) or kernel(*a, **k))
        fused = level(xyz, None)
    assert launched == ["fused_farthest_point_sample", "fused_ball_query"]
    assert torch.equal(fused[0], reference[0]) and torch.equal(fused[1], reference[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the interpreter tests above run anywhere)")
def test_on_a_gpu_the_compiled_kernels_equal_the_reference_at_paper_size():
    level = preset("paper").points.set_abstraction[0]
    xyz = _cloud(16, 1024, seed=11).cuda()
    idx = fused_point_ops.farthest_point_sample(xyz, level.num_centroids)           # the dispatcher picks Triton
    assert torch.equal(idx, point_ops.farthest_point_sample(xyz, level.num_centroids))
    centroids = point_ops.gather_points(xyz, idx)
    groups = fused_point_ops.ball_query(xyz, centroids, radius_m=level.radius_m, neighbours=level.neighbours)
    reference = point_ops.ball_query(xyz, centroids, radius_m=level.radius_m, neighbours=level.neighbours)
    assert (groups != reference).float().mean() < 1e-4        # only points on a ball's surface may differ (cdist)
