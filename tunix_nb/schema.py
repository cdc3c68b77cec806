"""Our record fields (ARCHITECTURE.md's train and eval records) and the defaults of the optional
ones: one place, read by the config (which checks the column mappings) and by the data readers."""

TRAIN_FIELDS = ("id", "question", "reasoning", "answer", "section", "category", "difficulty")
EVAL_FIELDS = ("id", "prompt", "expected_answer", "section", "category", "difficulty")
# A preference pair (preference.pairs_file): the question, the model turn's preferred and rejected text.
PAIR_FIELDS = ("id", "prompt", "chosen", "rejected", "section", "category", "difficulty")
# What an eval source's columns may be mapped onto: ours, and GSM8K's shape (question, answer "#### N").
EVAL_MAPPABLE = (*EVAL_FIELDS, "question", "answer")
# A record without these takes the default (counted per source in the run manifest); GSM8K rows
# are category "gsm8k".
DEFAULTS = {"section": "core", "category": "unknown", "difficulty": "unknown"}
