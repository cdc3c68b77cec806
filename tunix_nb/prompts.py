"""The one prompt template (Gemma chat turns) and the token/mask construction built on it.

Training, evaluation and the Kaggle notebook's `PROMPT_TEMPLATE` all come from here, so the
model is always asked the same way it was taught. Pure functions; the tokenizer is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

REASONING_START = "<reasoning>"
REASONING_END = "</reasoning>"
SOLUTION_START = "<answer>"
SOLUTION_END = "</answer>"

START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"
BOS = "<bos>"
EOS = "<eos>"

SYSTEM_INSTRUCTION = (
    "Solve the problem. Show your work step by step between "
    f"{REASONING_START} and {REASONING_END}, then give only the final answer between "
    f"{SOLUTION_START} and {SOLUTION_END}."
)

# Gemma has no system role: the instruction goes at the top of the user turn. The model turn is
# left open; the completion (and its closing <end_of_turn>) is what the model learns to write.
PROMPT_TEMPLATE = (
    f"{START_OF_TURN}user\n{SYSTEM_INSTRUCTION}\n\n{{question}}{END_OF_TURN}\n"
    f"{START_OF_TURN}model\n"
)

IGNORE_INDEX = -100  # label value that CrossEntropyLoss (and our chunked loss) skips


def format_prompt(question: str) -> str:
    """The text before the model's answer (no <bos>: `encode_*` adds exactly one)."""
    return PROMPT_TEMPLATE.format(question=question.strip())


def format_completion(reasoning: str, answer: str) -> str:
    """The target the model learns: reasoning block, answer block, end of its turn."""
    return (
        f"{REASONING_START}{reasoning.strip()}{REASONING_END}\n"
        f"{SOLUTION_START}{answer.strip()}{SOLUTION_END}{END_OF_TURN}"
    )


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX on prompt positions: loss only on the completion

    def __len__(self) -> int:
        return len(self.input_ids)


def _ids(tokenizer, text: str) -> list[int]:
    # add_special_tokens=False: Gemma tokenizers add <bos> themselves, and we add it once below.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_prompt(tokenizer, question: str) -> list[int]:
    """Token ids of the prompt, starting with exactly one <bos>."""
    return encode_formatted(tokenizer, format_prompt(question))


def encode_formatted(tokenizer, prompt: str) -> list[int]:
    """Token ids of an already chat-formatted prompt (`format_prompt`'s text), with one <bos>."""
    return [tokenizer.bos_token_id, *_ids(tokenizer, prompt)]


def encode_example(tokenizer, question: str, reasoning: str, answer: str) -> Encoded:
    """Prompt + completion ids, with the prompt masked out of the labels.

    Prompt and completion are tokenized separately so the boundary is exact (the template ends
    in a newline, so no token can straddle it)."""
    prompt = encode_prompt(tokenizer, question)
    completion = _ids(tokenizer, format_completion(reasoning, answer))
    return Encoded(input_ids=prompt + completion, labels=[IGNORE_INDEX] * len(prompt) + completion)
