"""The reinforcement-learning sections' config: `grpo:` (the GRPO stage, and the judge reward's
model) and `preference:` (DPO / ORPO / SimPO between SFT and GRPO)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from .config_data import check_columns
from .config_io import require
from .rewards import MODEL_REWARDS, REWARDS
from .schema import PAIR_FIELDS


# Reward weights by tunix_nb.rewards name, the starter's four kinds of reward (exact format, partial
# format, the answer, a close number) plus DAPO's overlong penalty: a correct answer counts most,
# exact format next; partial format, a close number and the length penalty only nudge.
DEFAULT_REWARD_WEIGHTS: dict[str, float] = {
    "format_exact": 1.0, "format_partial": 0.5, "answer_correct": 2.0, "numeric_close": 0.5, "overlong": 0.5,
}
# DAPO's clip-higher upper bound (its paper's 0.28), used when grpo.loss is dapo and epsilon_high is null.
DAPO_EPSILON_HIGH = 0.28


@dataclass(frozen=True, kw_only=True)
class GrpoConfig:
    """The GRPO stage (after SFT, or alone with training.max_steps: 0). Defaults: the competition's
    Tunix starter (grpo-demo-gemma*), except where a comment says why not."""

    # Completions sampled per prompt, the group G whose mean/std make the advantage (>= 2; starter: 2,
    # 4 here because a group of 2 only tells which of the two was better, never by how much).
    num_generations: int = 4
    # Prompts per optimizer step; the rollouts per step are prompts_per_step x num_generations.
    prompts_per_step: int = 2
    # Completions per forward/backward micro-batch (null: all of a step's completions at once). Must be
    # a multiple of num_generations (a group split across micro-batches breaks its normalisation
    # silently, google/tunix#816) and divide prompts_per_step x num_generations.
    micro_batch_size: int | None = None
    # GRPO optimizer steps (>= 1); 100 is a short first stage, the starter's ~3.4k is a full GSM8K pass.
    max_steps: int = 100
    # AdamW peak learning rate (starter: 3e-6; RL on an already-tuned policy wants small updates).
    learning_rate: float = 3e-6
    # Fraction of max_steps spent warming up linearly from 0 (starter: 10%), in [0, 1).
    warmup_ratio: float = 0.1
    # After warm-up: cosine to 0 (starter), linear to 0, or constant.
    lr_schedule: Literal["cosine", "linear", "constant"] = "cosine"
    # AdamW moments (starter: 0.9 / 0.99; b2 below the usual 0.999 reacts faster to noisy RL gradients).
    adam_b1: float = 0.9
    adam_b2: float = 0.99
    # AdamW decoupled weight decay (starter: 0.1).
    weight_decay: float = 0.1
    # Clip the global grad norm to this (starter: 0.1, tight: RL gradients spike); null disables it.
    max_grad_norm: float | None = 0.1
    # KL penalty weight against the reference (the starting) model (starter: 0.08); 0: no reference
    # model is kept or run (less memory, faster), as DAPO and TRL's default do.
    beta: float = 0.08
    # PPO-style clip range of the probability ratio, lower side (and upper when epsilon_high is null).
    epsilon: float = 0.2
    # Clip-higher upper bound (>= epsilon); null: = epsilon, or 0.28 for loss: dapo (DAPO's value).
    epsilon_high: float | None = None
    # The loss variant, as Tunix 0.1.7 ships them: grpo (GRPOConfig), dr_grpo (DrGRPOConfig: no std
    # normalisation, no per-sequence length normalisation), dapo (DAPOConfig: token-level, no KL).
    loss: Literal["grpo", "dr_grpo", "dapo"] = "grpo"
    # Policy updates per batch of rollouts, mu (starter: 1, fully on-policy; > 1 reuses rollouts).
    num_iterations: int = 1
    # Rollout sampling temperature (> 0: GRPO needs diverse samples in a group; starter: 0.9).
    temperature: float = 0.9
    # Top-k sampling (starter: 50); null: no top-k cut.
    top_k: int | None = 50
    # Nucleus sampling mass in (0, 1] (starter: 1.0, i.e. off); null: off.
    top_p: float | None = 1.0
    # Prompt tokens (starter: 256); longer prompts are skipped and counted, never cut.
    max_prompt_len: int = 256
    # Completion tokens sampled per rollout (starter: 768).
    max_new_tokens: int = 768
    # Rollout KV cache length; null: max_prompt_len + max_new_tokens, the least that fits.
    kv_cache_size: int | None = None
    # GRPO prompts: any data source (its rows need a question and an answer, which scores the
    # rollouts; data.columns maps them); null: the training rows.
    prompt_file: str | None = None
    # Use only the first N prompts (null: all).
    prompt_limit: int | None = None
    # The order prompts are met in (IDEA-E, 3rd in the Tunix Hack: curriculum-guided GRPO): none (a
    # seeded shuffle per epoch), difficulty (each epoch easy -> medium -> hard by the rows' difficulty),
    # pass_rate (each epoch from the prompts the SFT model already solves, greedy, to those it does not;
    # measured once before GRPO, kept in grpo_curriculum.jsonl, so a resumed run keeps the order).
    # Within a level the seeded shuffle stays.
    curriculum: Literal["none", "difficulty", "pass_rate"] = "none"
    # Weights by reward name (tunix_nb.rewards.REWARDS); a name not given keeps its default weight,
    # 0 switches a reward off. The total reward is the weighted sum. `trace` (scoring's trace check
    # of the reasoning's arithmetic) is off unless given a weight, e.g. --set grpo.rewards.trace=1.0.
    rewards: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_REWARD_WEIGHTS))
    # The overlong reward's soft zone: 0 up to max_new_tokens - this, falling to -1 at max_new_tokens
    # (DAPO's soft overlong punishment; 128 is a sixth of the default 768); < max_new_tokens.
    overlong_soft_tokens: int = 128
    # The judge reward (weight grpo.rewards.judge; 1st place of the Tunix Hack, G-RaR: a Gemma 3 12B judge's
    # rubric score beside the verified rewards): any model.source grades each completion by the rubric
    # file's criteria and template; its probability-weighted score, scaled to [0, 1], is the reward.
    judge_source: str | None = None
    judge_rubric: str = "training/rubrics/reasoning_1_10.yaml"
    # Tunix: the devices the judge gets, a sub-mesh of its own (e.g. 4 of a v5e-8's 8 chips; the rest
    # hold policy + reference); null: the judge shares the policy's devices.
    judge_devices: int | None = None
    # Distinct completions the judge scores in one forward pass.
    judge_batch_size: int = 8
    # Rollout sampling seed; null: training.seed.
    seed: int | None = None
    # Log metrics every N GRPO steps (every step: GRPO steps are slow and noisy).
    log_every: int = 1
    # Checkpoint every N GRPO steps (null: only the final one, which is always saved).
    save_every: int | None = None

    def __post_init__(self) -> None:
        g = self.num_generations
        require(g >= 2, "grpo.num_generations",
                f"must be >= 2 (got {g}): the advantage compares completions within a group")
        require(self.prompts_per_step >= 1, "grpo.prompts_per_step", f"must be >= 1 (got {self.prompts_per_step})")
        rollouts = self.prompts_per_step * g
        if self.micro_batch_size is not None:
            ok = [g * d for d in range(1, self.prompts_per_step + 1) if self.prompts_per_step % d == 0]
            require(self.micro_batch_size % g == 0 and rollouts % self.micro_batch_size == 0,
                    "grpo.micro_batch_size",
                    f"({self.micro_batch_size}) must be a multiple of grpo.num_generations ({g}) that divides "
                    f"grpo.prompts_per_step x grpo.num_generations ({rollouts}): a group split across "
                    "micro-batches breaks its normalisation silently (google/tunix#816); "
                    f"use one of {', '.join(map(str, ok))} or null")
        require(self.max_steps >= 1, "grpo.max_steps", f"must be >= 1 (got {self.max_steps})")
        require(self.learning_rate > 0, "grpo.learning_rate", f"must be > 0 (got {self.learning_rate})")
        require(0.0 <= self.warmup_ratio < 1.0, "grpo.warmup_ratio", f"must be in [0, 1) (got {self.warmup_ratio})")
        for name in ("adam_b1", "adam_b2"):
            value = getattr(self, name)
            require(0.0 <= value < 1.0, f"grpo.{name}", f"must be in [0, 1) (got {value})")
        require(self.weight_decay >= 0, "grpo.weight_decay", f"must be >= 0 (got {self.weight_decay})")
        require(self.max_grad_norm is None or self.max_grad_norm > 0, "grpo.max_grad_norm",
                f"must be > 0 or null (got {self.max_grad_norm})")
        require(self.beta >= 0, "grpo.beta", f"must be >= 0 (got {self.beta})")
        require(self.epsilon > 0, "grpo.epsilon", f"must be > 0 (got {self.epsilon})")
        require(self.epsilon_high is None or self.epsilon_high >= self.epsilon, "grpo.epsilon_high",
                f"({self.epsilon_high}) must be >= grpo.epsilon ({self.epsilon}), or null")
        if self.loss == "dapo":
            require(self.beta == 0, "grpo.beta",
                    f"must be 0 with grpo.loss: dapo (DAPO has no KL term; got {self.beta}); "
                    "set grpo.beta=0 or choose grpo.loss: grpo")
            require(self.clip_high >= self.epsilon, "grpo.epsilon_high",
                    f"is null, so DAPO's {DAPO_EPSILON_HIGH} is used, which is below grpo.epsilon "
                    f"({self.epsilon}); set grpo.epsilon_high")
        require(self.num_iterations >= 1, "grpo.num_iterations", f"must be >= 1 (got {self.num_iterations})")
        require(self.temperature > 0, "grpo.temperature",
                f"must be > 0 (got {self.temperature}): GRPO needs diverse samples in a group")
        require(self.top_k is None or self.top_k >= 1, "grpo.top_k", f"must be >= 1 or null (got {self.top_k})")
        require(self.top_p is None or 0.0 < self.top_p <= 1.0, "grpo.top_p",
                f"must be in (0, 1] or null (got {self.top_p})")
        require(self.max_prompt_len >= 1, "grpo.max_prompt_len", f"must be >= 1 (got {self.max_prompt_len})")
        require(self.max_new_tokens >= 1, "grpo.max_new_tokens", f"must be >= 1 (got {self.max_new_tokens})")
        need = self.max_prompt_len + self.max_new_tokens
        require(self.kv_cache_size is None or self.kv_cache_size >= need, "grpo.kv_cache_size",
                f"({self.kv_cache_size}) is smaller than grpo.max_prompt_len + grpo.max_new_tokens "
                f"({self.max_prompt_len} + {self.max_new_tokens} = {need}); raise it to at least {need}, "
                "lower those two, or set it to null")
        require(self.prompt_limit is None or self.prompt_limit >= 1, "grpo.prompt_limit",
                f"must be >= 1 or null (got {self.prompt_limit})")
        object.__setattr__(self, "rewards", _reward_weights(self.rewards, "grpo.rewards", MODEL_REWARDS))
        judged = self.rewards.get("judge", 0) != 0
        require(judged == (self.judge_source is not None), "grpo.judge_source" if judged else "grpo.rewards.judge",
                "is null, but grpo.rewards.judge weighs the judge reward; name the judge model (any model.source, "
                "e.g. packaged:gemma-3-270m) or set grpo.rewards.judge=0" if judged else
                "is 0 or missing, but grpo.judge_source names a judge; give it a weight, e.g. grpo.rewards.judge=1.0")
        require(self.judge_devices is None or self.judge_devices >= 1, "grpo.judge_devices",
                f"must be >= 1 or null (got {self.judge_devices})")
        require(self.judge_devices is None or judged, "grpo.judge_devices",
                "is set but there is no judge (grpo.judge_source); set it to null")
        require(self.judge_batch_size >= 1, "grpo.judge_batch_size", f"must be >= 1 (got {self.judge_batch_size})")
        require(1 <= self.overlong_soft_tokens < self.max_new_tokens, "grpo.overlong_soft_tokens",
                f"({self.overlong_soft_tokens}) must be >= 1 and smaller than grpo.max_new_tokens "
                f"({self.max_new_tokens}); lower it")
        require(self.log_every >= 1, "grpo.log_every", f"must be >= 1 (got {self.log_every})")
        require(self.save_every is None or self.save_every >= 1, "grpo.save_every",
                f"must be >= 1 or null (got {self.save_every})")

    @property
    def clip_high(self) -> float:
        """The upper clip bound actually used: epsilon_high, else 0.28 for dapo, else epsilon."""
        if self.epsilon_high is not None:
            return self.epsilon_high
        return DAPO_EPSILON_HIGH if self.loss == "dapo" else self.epsilon

    @property
    def cache_size(self) -> int:
        """The rollout KV cache length actually used (kv_cache_size, else prompt + new tokens)."""
        return self.kv_cache_size if self.kv_cache_size is not None else self.max_prompt_len + self.max_new_tokens

    @property
    def rollouts_per_step(self) -> int:
        return self.prompts_per_step * self.num_generations


def _reward_weights(given: dict[str, float], field: str, model_rewards: tuple[str, ...] = ()) -> dict[str, float]:
    """Reward weights checked and completed: names not given keep their default weight; stored
    complete and in REWARDS order (then the model rewards given), so the resolved config (manifest,
    config.yaml, hash) shows every weight actually used."""
    names = (*REWARDS, *model_rewards)
    for name in given:
        require(name in names, f"{field}.{name}", f"unknown reward; valid rewards: {', '.join(names)}")
    merged = {**DEFAULT_REWARD_WEIGHTS, **given}
    weights = {name: float(merged[name]) for name in names if name in merged}
    require(any(w != 0 for w in weights.values()), field,
             "every weight is 0, so every completion would score 0 and nothing is learned; "
             "give at least one reward a nonzero weight")
    return weights


# β when preference.beta is null: DPO's usual 0.1 (Rafailov et al.; Tunix's default), SimPO's 2.0
# (Meng et al. 2024, their Gemma-2 setting: β 2-10 with γ/β ≈ 0.5; ORPO has no β).
PREFERENCE_BETA = {"dpo": 0.1, "simpo": 2.0}


@dataclass(frozen=True, kw_only=True)
class PreferenceConfig:
    """The preference stage, between SFT and GRPO (2nd place of the Tunix Hack, Pinocchio-1B: SFT,
    then SimPO to lock the format and stop verbosity, then GRPO). Pairs come from a file, or are
    built on-policy from the stage's starting model."""

    # dpo (against the stage's starting model, its log-probs computed once before the first step),
    # orpo (chosen NLL + odds-ratio term, no reference), simpo (length-normalised margin with a target
    # gap, no reference: the memory-lighter one). DPO and ORPO are Tunix's own on the Tunix backend.
    algorithm: Literal["dpo", "orpo", "simpo"] = "simpo"
    # A data source of {prompt, chosen, rejected} rows (any format data.train_file takes; prompt is the
    # question, chosen / rejected the model turn's text); null: on-policy pairs from the prompts below.
    pairs_file: str | None = None
    # The pairs source's column names mapped onto ours (prompt, chosen, rejected, id, section,
    # category, difficulty), e.g. {prompt: question, chosen: good, rejected: bad}.
    columns: dict[str, str] = dataclasses.field(default_factory=dict)
    # On-policy: the first N GRPO prompts (grpo.prompt_file, else the training rows) are each sampled
    # num_samples times and scored by `rewards`; chosen = the best, rejected = the worst, a prompt whose
    # samples all score the same gives no pair. The pairs go to <run dir>/preference_pairs.jsonl.
    prompt_limit: int = 64
    num_samples: int = 4
    temperature: float = 0.9
    top_k: int | None = 50
    max_prompt_len: int = 256
    max_new_tokens: int = 256
    # Weights by reward name, as grpo.rewards (names not given keep their default weight); `judge` ranks
    # the samples by grpo.judge_source's rubric score too (a continuous score: fewer ties).
    rewards: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_REWARD_WEIGHTS))
    # Pairs kept out of training (a seeded pick): their mean chosen - rejected log-prob margin is
    # measured before and after the stage (the manifest's `preference`).
    held_out: int = 8
    # β (null: 0.1 for DPO, 2.0 for SimPO), SimPO's target margin γ (γ/β = 0.5, the paper's
    # setting), ORPO's λ, and label smoothing (conservative DPO; 0: off).
    beta: float | None = None
    gamma: float = 1.0
    lambda_orpo: float = 0.1
    label_smoothing: float = 0.0
    # Optimizer steps of pairs_per_step pairs each (the pairs reshuffled by the seed every pass).
    max_steps: int = 50
    pairs_per_step: int = 4
    # AdamW, linear warm-up over warmup_ratio of the steps, then cosine to 0; grad-norm clip.
    learning_rate: float = 5e-6
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float | None = 1.0
    # Pair order and sampling seed; null: training.seed.
    seed: int | None = None
    log_every: int = 1
    # Checkpoint every N steps (null: only the final one, which is always saved).
    save_every: int | None = None

    def __post_init__(self) -> None:
        check_columns(self.columns, "preference.columns", PAIR_FIELDS)
        for name in ("prompt_limit", "max_prompt_len", "max_new_tokens", "max_steps", "pairs_per_step", "log_every"):
            value = getattr(self, name)
            require(value >= 1, f"preference.{name}", f"must be >= 1 (got {value})")
        require(self.num_samples >= 2, "preference.num_samples",
                f"must be >= 2 (got {self.num_samples}): a pair needs a best and a worst sample")
        require(self.temperature > 0, "preference.temperature",
                f"must be > 0 (got {self.temperature}): greedy samples of one prompt are all the same")
        require(self.top_k is None or self.top_k >= 1, "preference.top_k", f"must be >= 1 or null (got {self.top_k})")
        require(self.held_out >= 0, "preference.held_out", f"must be >= 0 (got {self.held_out})")
        require(self.beta is None or self.beta > 0, "preference.beta", f"must be > 0 or null (got {self.beta})")
        require(self.beta is None or self.algorithm != "orpo", "preference.beta",
                f"ORPO has no β (got {self.beta}); its preference term is weighed by preference.lambda_orpo: "
                "remove preference.beta or choose algorithm dpo or simpo")
        require(self.gamma >= 0, "preference.gamma", f"must be >= 0 (got {self.gamma})")
        require(self.lambda_orpo >= 0, "preference.lambda_orpo", f"must be >= 0 (got {self.lambda_orpo})")
        require(0.0 <= self.label_smoothing < 0.5, "preference.label_smoothing",
                f"must be in [0, 0.5) (got {self.label_smoothing})")
        require(self.learning_rate > 0, "preference.learning_rate", f"must be > 0 (got {self.learning_rate})")
        require(0.0 <= self.warmup_ratio < 1.0, "preference.warmup_ratio",
                f"must be in [0, 1) (got {self.warmup_ratio})")
        require(self.weight_decay >= 0, "preference.weight_decay", f"must be >= 0 (got {self.weight_decay})")
        require(self.max_grad_norm is None or self.max_grad_norm > 0, "preference.max_grad_norm",
                f"must be > 0 or null (got {self.max_grad_norm})")
        require(self.save_every is None or self.save_every >= 1, "preference.save_every",
                f"must be >= 1 or null (got {self.save_every})")
        object.__setattr__(self, "rewards", _reward_weights(self.rewards, "preference.rewards", MODEL_REWARDS))

    @property
    def beta_used(self) -> float:
        """β actually used: preference.beta, else the algorithm's usual value (ORPO has none)."""
        return self.beta if self.beta is not None else PREFERENCE_BETA.get(self.algorithm, 0.0)

    @property
    def hyperparameters(self) -> dict[str, float]:
        """The settings this algorithm's loss reads, as logged and kept in the manifest."""
        strength = {"lambda_orpo": self.lambda_orpo} if self.algorithm == "orpo" else {"beta": self.beta_used}
        return {**strength, **({"gamma": self.gamma} if self.algorithm == "simpo" else {}),
                "label_smoothing": self.label_smoothing}

    def describe(self) -> str:
        """`simpo, beta 2.0, gamma 1.0, label_smoothing 0.0`: the loss, for a log line."""
        return ", ".join([self.algorithm, *(f"{k} {v}" for k, v in self.hyperparameters.items())])
