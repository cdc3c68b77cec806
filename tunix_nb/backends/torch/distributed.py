"""Past one GPU: the PyTorch SFT stage under `torchrun --nproc-per-node N`, with DDP or FSDP2
(`training.distributed`). Launched without torchrun (WORLD_SIZE unset) everything here is the
one-process identity, so the loop in `sft.py` reads the same either way.

- Every rank plans the same schedule (`data.plan_steps`, seeded) and trains its `share` of each
  step's micro-batches; a rank with fewer than the others repeats one with weight 0, since FSDP
  runs collectives in every forward/backward and DDP's last backward is its all-reduce (so any
  world size works, but grad_accum a multiple of N keeps every rank busy).
- The loss stays the step's summed CE over the target tokens of ALL its micro-batches, and DDP and
  FSDP average gradients over the ranks, so each rank's loss is scaled by N (`grad_scale`): the
  gradients, the clipped norm and the logged (all-reduced) loss are the one-process run's up to
  float rounding (`optim.clip_and_norm` reduces FSDP's sharded norm).
- Rank 0 alone writes: the run dir, metrics, manifest and checkpoints, which hold whole
  (unsharded) weights and optimizer state in the one-process layout, so a run resumes at any
  world size. The other ranks train SFT and leave (`pipeline.follow`); rank 0 then evaluates
  alone. GRPO under torchrun is refused (`load.check`); run it as one process.
"""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Iterator

from ...errors import UserError

# Rank 0 scores the base model (eval.compare_base) before SFT while the others wait in a collective.
WAIT = timedelta(hours=6)


def world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


@contextmanager
def process_group(kind: str, device: str) -> Iterator[None]:
    """Around a whole `tunix-nb run`: under torchrun, join the process group (nccl on CUDA, gloo on
    the CPU; this rank's GPU is LOCAL_RANK's) and leave it at the end; otherwise nothing. A group
    already joined is used as it is (a caller running several runs in a row holds it: torchrun's
    store does not take a second one)."""
    if world() == 1:
        yield
        return
    if kind == "none":
        raise UserError(f"training.distributed: none, but torchrun started {world()} processes; set "
                        "training.distributed: ddp or fsdp, or run without torchrun")
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        yield
        return

    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=WAIT)
    try:
        yield
        dist.barrier()  # no rank tears the group down under another still using it
    finally:
        dist.destroy_process_group()


def on_main(fn: Callable[[], object]) -> object:
    """`fn()` run on rank 0, its result handed to every rank (picklable)."""
    if world() == 1:
        return fn()
    import torch.distributed as dist

    box = [fn() if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def share(items: list) -> list[tuple[object, float]]:
    """This rank's part of a step's micro-batches as (item, weight): a contiguous slice (the first
    len % N ranks take one more), topped up to the longest share with weight-0 repeats."""
    n, w, r = len(items), world(), rank()
    lo, hi = r * (n // w) + min(r, n % w), (r + 1) * (n // w) + min(r + 1, n % w)
    return [(x, 1.0) for x in items[lo:hi]] + [(items[0], 0.0)] * (-(-n // w) - (hi - lo))


def all_sum(x: float) -> float:
    """`x` summed over the ranks."""
    if world() == 1:
        return x
    import torch
    import torch.distributed as dist

    t = torch.tensor([x], dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return float(t[0])


@dataclass
class Trainee:
    """The model as the loop trains it: `loss(batch)` runs through DDP's or FSDP's wrapper,
    `grad_scale` undoes their gradient averaging; `model` is the inner model (FSDP: its
    parameters sharded in place), `skeleton` FSDP's weightless copy of it (`unwrap`) and `tied`
    the names of parameters that are another's (a tied lm_head), which HF checkpoints leave out."""
    model: object
    loss: Callable
    kind: str = "none"
    grad_scale: float = 1.0
    skeleton: object = None
    tied: frozenset = frozenset()

    def params(self) -> list:
        return [p for p in self.model.parameters() if p.requires_grad]

    def accumulating(self, last: bool):
        """DDP all-reduces on the step's last backward only; FSDP reduce-scatters every backward."""
        return self.loss.no_sync() if self.kind == "ddp" and not last else nullcontext()

    def full_state(self, optimizer) -> tuple[dict | None, dict]:
        """(weights, optimizer state) whole, in the one-process layout (optimizer state keyed by the
        index of each trainable parameter): a collective under FSDP, None/{} on ranks > 0; else
        (None: the model's own, the optimizer's state dict)."""
        if self.kind != "fsdp":
            return None, optimizer.state_dict()
        from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

        weights = get_model_state_dict(self.model, options=_options(cpu_offload=True))
        saved = get_optimizer_state_dict(self.loss, optimizer, options=_options(cpu_offload=True))
        if not is_main():
            return None, {}
        index = {fqn: i for i, fqn in enumerate(self._fqns(optimizer))}
        return {k: v for k, v in weights.items() if k not in self.tied}, {"state": {index[k]: v for k, v in saved["state"].items()},
                         "param_groups": [{**g, "params": [index[k] for k in g["params"]]}
                                          for g in saved["param_groups"]]}

    def load_optimizer(self, optimizer, saved: dict) -> None:
        """A `full_state` optimizer state into this rank's optimizer (FSDP: its shard of it)."""
        if self.kind != "fsdp":
            optimizer.load_state_dict(saved)
            return
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        fqns = self._fqns(optimizer)
        named = {"state": {fqns[i]: v for i, v in saved["state"].items()},
                 "param_groups": [{**g, "params": [fqns[i] for i in g["params"]]} for g in saved["param_groups"]]}
        set_optimizer_state_dict(self.loss, optimizer, named, options=_options())

    def unwrap(self):
        """The trained model, plain, on rank 0 (FSDP: the whole weights gathered into the skeleton,
        a collective; None on ranks > 0)."""
        if self.kind != "fsdp":
            return self.model if is_main() else None
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        weights = get_model_state_dict(self.model, options=_options(cpu_offload=True))
        if not is_main():
            return None
        device = next(p.device for p in self.model.parameters())
        self.skeleton.load_state_dict(weights, assign=True)
        base = self.skeleton.get_base_model() if hasattr(self.skeleton, "get_base_model") else self.skeleton
        base.tie_weights()  # assign=True loaded the tied embedding and lm_head as two tensors
        return self.skeleton.to(device)

    def _fqns(self, optimizer) -> list[str]:
        """The fully-qualified name (in the wrapper) of each of the optimizer's parameters, in order."""
        name = {id(p): n for n, p in self.loss.named_parameters()}
        return [name[id(p)] for g in optimizer.param_groups for p in g["params"]]


def wrap(model, kind: str, loss_fn: Callable) -> Trainee:
    """`model` ready to train at this world size; `loss_fn(model, batch)` its summed loss. The loss
    runs inside the wrapped module's forward, so DDP's and FSDP's hooks see all of it (the chunked
    loss calls the decoder and lm_head directly)."""
    if world() == 1:
        return Trainee(model=model, loss=lambda batch: loss_fn(model, batch))
    import torch

    class Loss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, batch):
            return loss_fn(self.model, batch)

    module = Loss()
    if kind == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        on_gpu = next(model.parameters()).is_cuda
        # No per-forward broadcast of buffers: ours are constants every rank builds alike (rotary
        # frequencies, the embedding scale). With it, 8 of 12 two-process CPU runs came out with a
        # step-1 grad norm 1.1% off the one-process run's (equal losses); without, 10 of 10 equal.
        # Why the broadcast does that was not found.
        ddp = DistributedDataParallel(module, device_ids=[torch.cuda.current_device()] if on_gpu else None,
                                      broadcast_buffers=False)
        return Trainee(model=model, loss=ddp, kind=kind, grad_scale=world())
    from torch.distributed.fsdp import fully_shard

    tied = {n for n, _ in model.named_parameters(remove_duplicate=False)} - {n for n, _ in model.named_parameters()}
    # A copy with meta tensors for parameters (no memory), filled with the trained weights at the end.
    skeleton = copy.deepcopy(model, {id(p): torch.nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
                                     for p in model.parameters()})
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for layer in base.get_decoder().layers:
        fully_shard(layer)
    fully_shard(module)  # the root: embeddings (tied to lm_head) and the final norm
    return Trainee(model=model, loss=module, kind=kind, grad_scale=world(), skeleton=skeleton, tied=frozenset(tied))


def _options(cpu_offload: bool = False):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=cpu_offload)
