"""Our Adafactor is transformers' rule as the HF Trainer recipe runs it (scale_parameter=False,
relative_step=False, no first moment), eager and compiled, and resumes from its state."""

import copy

import pytest

torch = pytest.importorskip("torch")

from transformers.optimization import Adafactor as HFAdafactor  # noqa: E402

from tunix_nb.backends.torch.adafactor import Adafactor  # noqa: E402

SHAPES = {"embed": (37, 16), "proj": (16, 24), "norm": (24,)}


def params(seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.nn.Parameter(torch.randn(s, generator=g).to(dtype)) for k, s in SHAPES.items()}


def hf(ps, lr, weight_decay):
    return HFAdafactor(list(ps.values()), lr=lr, weight_decay=weight_decay, scale_parameter=False,
                       relative_step=False, warmup_init=False)


def run_steps(opt, ps, steps, *, first=0, lrs=(1e-2, 5e-3, 2e-2, 1e-3, 3e-2, 1e-2)):
    """`steps` steps of seeded gradients (some large enough for the update clipping), the lr
    changed between steps as our scheduler does."""
    for s in range(first, first + steps):
        g = torch.Generator().manual_seed(100 + s)
        for p in ps.values():
            p.grad = (torch.randn(p.shape, generator=g) * (10.0 ** (s % 3 - 1))).to(p.dtype)
        for group in opt.param_groups:
            group["lr"] = lrs[s % len(lrs)]
        opt.step()


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_same_updates_as_transformers_adafactor(weight_decay):
    ours, theirs = params(), params()
    a, b = Adafactor(list(ours.values()), lr=1e-2, weight_decay=weight_decay), hf(theirs, 1e-2, weight_decay)
    run_steps(a, ours, 6)
    run_steps(b, theirs, 6)
    for k in SHAPES:
        torch.testing.assert_close(ours[k], theirs[k], rtol=1e-6, atol=1e-7)
        assert not torch.equal(ours[k], params()[k])  # they moved
    for p, q in zip(ours.values(), theirs.values()):
        sa, sb = a.state[p], b.state[q]
        assert sa["step"] == sb["step"] == 6
        for key in ("exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq"):
            assert (key in sa) == (key in sb)
            if key in sa:
                torch.testing.assert_close(sa[key], sb[key], rtol=1e-6, atol=0)


def test_resumes_from_transformers_state():
    """A checkpoint written while transformers' class was the optimizer resumes under ours."""
    ours, theirs = params(), params()
    b = hf(theirs, 1e-2, 0.0)
    run_steps(b, theirs, 3)
    ours = {k: torch.nn.Parameter(v.detach().clone()) for k, v in theirs.items()}
    a = Adafactor(list(ours.values()), lr=1e-2)
    a.load_state_dict(copy.deepcopy(b.state_dict()))  # as from disk: not b's live tensors
    run_steps(a, ours, 3, first=3)
    run_steps(b, theirs, 3, first=3)
    for k in SHAPES:
        torch.testing.assert_close(ours[k], theirs[k], rtol=1e-6, atol=1e-7)


def test_bf16_weights_are_updated_in_fp32_like_transformers():
    ours, theirs = params(dtype=torch.bfloat16), params(dtype=torch.bfloat16)
    a, b = Adafactor(list(ours.values()), lr=1e-2), hf(theirs, 1e-2, 0.0)
    run_steps(a, ours, 3)
    run_steps(b, theirs, 3)
    for k in SHAPES:
        assert ours[k].dtype == torch.bfloat16
        torch.testing.assert_close(ours[k], theirs[k], rtol=0, atol=0)


def test_compiled_update_equals_eager():
    """The GPU's path (torch.compile of each update; inductor's CPU build here): the same weights
    up to float rounding, and one graph per rule (matrix, vector) whatever the weight shapes and
    the learning rates: no recompiles for each of a model's shapes."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    eager, compiled = params(), params()
    a = Adafactor(list(eager.values()), lr=1e-2, weight_decay=0.01)
    b = Adafactor(list(compiled.values()), lr=1e-2, weight_decay=0.01, compile=True)
    run_steps(a, eager, 4)
    run_steps(b, compiled, 4)
    for k in SHAPES:
        torch.testing.assert_close(compiled[k], eager[k], rtol=1e-5, atol=1e-6)
    assert counters["stats"]["unique_graphs"] == 2


def test_fused_grad_norm_equals_eager_and_clips_alike():
    """optim.clip_and_norm's GPU path (each grad's float64 norm compiled into one reduction):
    the same norm and clipped grads as the eager one, one graph per grad rank (matrices, vectors),
    not one per shape."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from tunix_nb.backends.torch.optim import clip_and_norm

    torch._dynamo.reset()
    counters.clear()
    eager, fused = params(), params()
    for ps in (eager, fused):
        run_steps(Adafactor(list(ps.values()), lr=0.0), ps, 1)  # seeded grads, weights unchanged (lr 0)
    a = clip_and_norm(list(eager.values()), 1.0, fused=False)
    b = clip_and_norm(list(fused.values()), 1.0, fused=True)
    assert a == pytest.approx(b, rel=1e-12) and a > 1.0  # clipped
    for k in SHAPES:
        torch.testing.assert_close(fused[k].grad, eager[k].grad, rtol=1e-6, atol=0)
    assert counters["stats"]["unique_graphs"] == 2
