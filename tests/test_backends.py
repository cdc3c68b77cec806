"""The pipeline-backend contract (`backends.common.Backend`): both backends expose every function
of it, with the same parameters (names, kinds, order) as the contract states."""

import inspect

import pytest

from tunix_nb import backends
from tunix_nb.backends.common import Backend

MEMBERS = [name for name, value in vars(Backend).items() if inspect.isfunction(value) and not name.startswith("_")]


def parameters(fn, *, drop_self: bool = False) -> list[tuple[str, object]]:
    params = list(inspect.signature(fn).parameters.values())
    return [(p.name, p.kind) for p in (params[1:] if drop_self else params)]


def test_the_contract_names_every_stage_the_pipeline_calls():
    assert MEMBERS == ["check", "load_policy", "checkpoints", "latest_step", "restore", "train_sft", "train_preference",
                       "sample", "pair_logps", "load_judge", "train_grpo", "predict", "export_hf"]


@pytest.mark.parametrize("name", ["torch", "tunix"])
def test_each_backend_satisfies_the_contract(name):
    backend = backends.get(name)
    assert sorted(backend.__all__) == sorted(MEMBERS)
    for member in MEMBERS:
        fn = getattr(backend, member)
        assert callable(fn), member
        assert parameters(fn) == parameters(getattr(Backend, member), drop_self=True), f"{name}.{member}"
