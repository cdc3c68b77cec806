"""DPO, ORPO and SimPO on a fixed fixture, on both backends: two preference pairs (left-padded
prompts, right-padded completions of other lengths) through the tiny model in transformers and in
Tunix. Each backend's loss equals the formula computed by hand in numpy from that backend's own
log-probs (1e-5), and the backends agree with each other (log-probs and losses, 1e-4). DPO and
ORPO on the Tunix side are Tunix's own `dpo_loss_fn`."""

import numpy as np
import pytest

from tunix_nb.backends.torch import preference as torch_pref
from tunix_nb.backends.tunix import preference as tunix_pref

PAD = 0
PROMPTS = [[2, 105, 11, 12, 13, 106], [2, 105, 21, 22]]  # token ids of the tiny model (<bos> = 2, <pad> = 0)
CHOSEN = [[31, 32, 33, 106], [41, 42, 106]]
REJECTED = [[51, 52, 106], [61, 62, 63, 64, 65, 106]]
SPECS = [torch_pref.PreferenceLoss("dpo", beta=0.5, label_smoothing=0.1),
         torch_pref.PreferenceLoss("orpo", lambda_orpo=0.3), torch_pref.PreferenceLoss("simpo", beta=2.0, gamma=0.4)]
REF_CHOSEN, REF_REJECTED = np.array([-30.0, -25.0], np.float32), np.array([-28.0, -40.0], np.float32)


def batch():
    """Tunix's DPO layout: [prompt (left-padded) | completion (right-padded)], chosen rows first."""
    width_p, width_c = max(map(len, PROMPTS)), max(map(len, CHOSEN + REJECTED))
    prompts = [[PAD] * (width_p - len(p)) + p for p in PROMPTS] * 2
    completions = [c + [PAD] * (width_c - len(c)) for c in CHOSEN + REJECTED]
    ids = np.array([p + c for p, c in zip(prompts, completions)], np.int32)
    completion_mask = np.array([[1] * len(c) + [0] * (width_c - len(c)) for c in CHOSEN + REJECTED], np.int32)
    mask = np.concatenate([(np.array(prompts) != PAD).astype(np.int32), completion_mask], axis=1)
    return ids, mask, completion_mask


def by_hand(spec, c, r, lc, lr, ref_c=None, ref_r=None):
    logsig = lambda x: -np.log1p(np.exp(-x))  # noqa: E731
    eps = spec.label_smoothing
    if spec.algorithm == "dpo":
        d = spec.beta * ((c - (0 if ref_c is None else ref_c)) - (r - (0 if ref_r is None else ref_r)))
        return np.mean(-(1 - eps) * logsig(d) - eps * logsig(-d))
    if spec.algorithm == "orpo":
        odds = (c - r) - (np.log(1 - np.exp(c)) - np.log(1 - np.exp(r)))
        return np.mean(-c / lc + spec.lambda_orpo * -((1 - eps) * logsig(odds) + eps * logsig(-odds)))
    d = spec.beta * (c / lc - r / lr) - spec.gamma
    return np.mean(-(1 - eps) * logsig(d) - eps * logsig(-d))


@pytest.fixture(scope="module")
def torch_side(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    ids, mask, completion_mask = (torch.tensor(a, dtype=torch.long) for a in batch())
    full = torch.cat([torch.zeros(ids.shape[0], ids.shape[1] - completion_mask.shape[1], dtype=torch.long),
                      completion_mask], dim=1)
    with torch.no_grad():
        logps, lengths = torch_pref.completion_logps(model, ids, mask, full)
    half = len(PROMPTS)
    return logps[:half], logps[half:], lengths[:half], lengths[half:]


@pytest.fixture(scope="module")
def tunix_side(tiny_model_dir):
    import jax.numpy as jnp
    from tunix.rl import common
    from tunix.sft.dpo.dpo_trainer import TrainExample, compute_logps

    from tunix_nb.backends.tunix.load import load_model

    model, _ = load_model(tiny_model_dir, dtype="fp32")
    ids, mask, completion_mask = (jnp.asarray(a) for a in batch())

    def example(ref):
        return TrainExample(input_ids=ids, positions=common.build_positions_from_mask(mask),
                            attention_mask=common.make_causal_attn_mask(mask),
                            ref_chosen_logps=jnp.asarray(REF_CHOSEN) if ref else None,
                            ref_rejected_logps=jnp.asarray(REF_REJECTED) if ref else None,
                            completion_mask=completion_mask, logits_to_keep=completion_mask.shape[1])

    chosen, rejected = compute_logps(model, ids, example(False).positions, example(False).attention_mask,
                                     completion_mask.shape[1], completion_mask)
    return model, example, np.asarray(chosen), np.asarray(rejected)


@pytest.mark.parametrize("spec", SPECS, ids=[s.algorithm for s in SPECS])
def test_each_loss_is_its_formula_on_both_backends_and_they_agree(spec, torch_side, tunix_side):
    import torch

    c, r, lc, lr = torch_side
    ref = spec.algorithm == "dpo"
    refs = (torch.tensor(REF_CHOSEN), torch.tensor(REF_REJECTED)) if ref else (None, None)
    ours, aux = torch_pref.loss(spec, c, r, lc, lr, *refs)
    n = lambda t: t.double().numpy()  # noqa: E731
    want = by_hand(spec, n(c), n(r), n(lc), n(lr), *((REF_CHOSEN, REF_REJECTED) if ref else (None, None)))
    assert float(ours) == pytest.approx(want, abs=1e-5)

    model, example, tc, tr = tunix_side
    assert tc == pytest.approx(n(c), abs=1e-4) and tr == pytest.approx(n(r), abs=1e-4)  # the same log-probs
    theirs, tunix_aux = tunix_pref.loss_fn(model, example(ref), spec)
    want_tunix = by_hand(spec, tc.astype(np.float64), tr.astype(np.float64), n(lc), n(lr),
                         *((REF_CHOSEN, REF_REJECTED) if ref else (None, None)))
    assert float(theirs) == pytest.approx(want_tunix, abs=1e-5)
    assert float(theirs) == pytest.approx(float(ours), abs=1e-4)
    assert float(tunix_aux["rewards/margin"]) == pytest.approx(float(aux["margin"]), abs=1e-4)


def test_an_unknown_algorithm_is_refused_on_both_backends(torch_side, tunix_side):
    spec = torch_pref.PreferenceLoss("kto")
    c, r, lc, lr = torch_side
    with pytest.raises(ValueError, match="unknown preference algorithm 'kto'"):
        torch_pref.loss(spec, c, r, lc, lr)
    model, example, _, _ = tunix_side
    with pytest.raises(ValueError, match="unknown preference algorithm 'kto'"):
        tunix_pref.loss_fn(model, example(False), spec)
