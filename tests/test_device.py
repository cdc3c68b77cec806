import pytest

from tunix_nb.config import load_config
from tunix_nb.device import plan_torch
from tunix_nb.errors import UserError


def test_cpu_plan_is_fp32_with_reasons():
    plan = plan_torch(load_config())
    assert (plan.backend, plan.device, plan.dtype) == ("torch", "cpu", "fp32")
    assert any("no CUDA GPU" in r for r in plan.reasons)
    assert "device plan:" in plan.describe()


def test_asking_for_a_missing_gpu_is_refused():
    with pytest.raises(UserError, match="training.device: cuda was asked for but torch sees no CUDA GPU"):
        plan_torch(load_config(None, ["training.device=cuda"]))
