"""torchrun / DistributedDataParallel plumbing: one place that knows about ranks and process groups.

Launch multi-process training with `torchrun --nproc_per_node N -m rcmcl_core.cli pretrain ...`; gloo is
used on CPU, NCCL on CUDA. A single plain process is world size 1 and needs none of this.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rcmcl_core.device import resolve_device


@dataclass(frozen=True)
class World:
    """Where this process sits: rank in [0, size), and the device it trains on."""

    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world(device_name: str) -> World:
    """Join the torchrun process group when WORLD_SIZE > 1 (env:// rendezvous), else a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if size <= 1:
        return World(rank=0, size=1, local_rank=0, device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return World(rank=rank, size=size, local_rank=local_rank, device=device)


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def average_buffers(module: torch.nn.Module, world: World) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over ranks in place. DDP keeps
    parameters identical but each rank's running statistics follow its own data; averaging them gives
    every replica, and the checkpoint, the estimate over all the data."""
    if not world.distributed:
        return
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(world.size)
