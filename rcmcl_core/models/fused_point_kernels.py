"""Triton kernels for farthest point sampling and ball query (launched by fused_point_ops).

triton decides between compiling for the GPU and its CPU interpreter (TRITON_INTERPRET=1) when `triton.jit`
wraps a function, and triton.language's own jitted helpers (tl.sum, tl.argmax, tl.cumsum, tl.zeros, ...)
were wrapped when triton was first imported. So these kernels use only builtins (tl.reduce,
tl.associative_scan, tl.full, ...) with combine functions of their own, and fused_point_ops executes this
file afresh per mode: the interpreter can be switched on after triton was imported (tests do).

Both kernels reproduce the torch reference in point_ops.py index for index: distances are the same
x, y, z sum of squared differences (launched with FMA contraction off), and every tie goes to the lowest index.
"""
import triton
import triton.language as tl


@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def _smaller(a, b):
    return tl.minimum(a, b)


@triton.jit
def _argmax_lowest(value_a, index_a, value_b, index_b):
    """(value, index) of the larger value; the lower index on a tie."""
    take_a = (value_a > value_b) | ((value_a == value_b) & (index_a < index_b))
    return tl.where(take_a, value_a, value_b), tl.where(take_a, index_a, index_b)


@triton.jit
def _argmin_lowest(value_a, index_a, value_b, index_b):
    """(value, index) of the smaller value; the lower index on a tie."""
    take_a = (value_a < value_b) | ((value_a == value_b) & (index_a < index_b))
    return tl.where(take_a, value_a, value_b), tl.where(take_a, index_a, index_b)



@triton.jit
def farthest_point_sample_kernel(xyz_ptr, out_ptr, num_points, num_samples, BLOCK_N: tl.constexpr):  # noqa: N803
    """One program per cloud. xyz (B, N, 3) float32 contiguous -> out (B, S) int64; starts at point 0.

    The whole cloud and its running nearest squared distance stay in registers (BLOCK_N >= N lanes);
    each of the S steps is one elementwise update and one argmax (lowest index on ties, as torch)."""
    cloud = tl.program_id(0)
    lanes = tl.arange(0, BLOCK_N)
    valid = lanes < num_points
    base = xyz_ptr + cloud.to(tl.int64) * num_points * 3
    x = tl.load(base + lanes * 3, mask=valid, other=0.0)
    y = tl.load(base + lanes * 3 + 1, mask=valid, other=0.0)
    z = tl.load(base + lanes * 3 + 2, mask=valid, other=0.0)
    # Lanes past N hold -1 so that argmax never picks them (real squared distances are >= 0).
    nearest = tl.where(valid, float("inf"), -1.0)
    current = tl.full([], 0, tl.int32)
    out = out_ptr + cloud.to(tl.int64) * num_samples
    for i in range(num_samples):
        tl.store(out + i, current.to(tl.int64))
        dx = x - tl.load(base + current * 3)
        dy = y - tl.load(base + current * 3 + 1)
        dz = z - tl.load(base + current * 3 + 2)
        dist_sq = dx * dx + dy * dy + dz * dz
        nearest = tl.where(valid, tl.minimum(nearest, dist_sq), nearest)
        _, current = tl.reduce((nearest, lanes), 0, _argmax_lowest)


@triton.jit
def ball_query_kernel(xyz_ptr, centroid_ptr, out_ptr, num_points, num_centroids, radius_sq, neighbours,
                      BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):  # noqa: N803
    """One program per (cloud, centroid). xyz (B, N, 3), centroids (B, S, 3) float32 contiguous ->
    out (B, S, K) int64: the lowest-index points with squared distance <= radius_sq, in index order;
    the remaining slots repeat the first one found, or the nearest point (lowest index on ties) when the
    ball is empty. BLOCK_K >= K."""
    cloud = tl.program_id(0)
    centre = tl.program_id(1)
    row = cloud.to(tl.int64) * num_centroids + centre
    cx = tl.load(centroid_ptr + row * 3)
    cy = tl.load(centroid_ptr + row * 3 + 1)
    cz = tl.load(centroid_ptr + row * 3 + 2)
    base = xyz_ptr + cloud.to(tl.int64) * num_points * 3
    out = out_ptr + row * neighbours
    count = tl.full([], 0, tl.int32)                      # points found inside so far
    first = tl.full([], 0, tl.int32) + num_points         # lowest index inside (N: none yet)
    best_sq = tl.full([], float("inf"), tl.float32)
    best = tl.full([], 0, tl.int32)                       # nearest point, for an empty ball
    for start in range(0, num_points, BLOCK_N):
        lanes = start + tl.arange(0, BLOCK_N)
        valid = lanes < num_points
        dx = tl.load(base + lanes * 3, mask=valid, other=0.0) - cx
        dy = tl.load(base + lanes * 3 + 1, mask=valid, other=0.0) - cy
        dz = tl.load(base + lanes * 3 + 2, mask=valid, other=0.0) - cz
        dist_sq = dx * dx + dy * dy + dz * dz
        inside = valid & (dist_sq <= radius_sq)
        hits = inside.to(tl.int32)
        rank = count + tl.associative_scan(hits, 0, _add) - 1
        tl.store(out + rank, lanes.to(tl.int64), mask=inside & (rank < neighbours))
        count += tl.reduce(hits, 0, _add)
        first = tl.minimum(first, tl.reduce(tl.where(inside, lanes, num_points), 0, _smaller))
        candidate_sq = tl.where(valid, dist_sq, float("inf"))
        block_best_sq, block_best = tl.reduce((candidate_sq, lanes), 0, _argmin_lowest)
        better = block_best_sq < best_sq                   # strict: an earlier block keeps a tie
        best = tl.where(better, block_best, best)
        best_sq = tl.where(better, block_best_sq, best_sq)
    fill = tl.where(count > 0, first, best)
    slots = tl.arange(0, BLOCK_K)
    tl.store(out + slots, tl.full([BLOCK_K], 0, tl.int64) + fill.to(tl.int64),
             mask=(slots >= count) & (slots < neighbours))
