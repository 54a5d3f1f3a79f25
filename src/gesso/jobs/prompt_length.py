"""How much of a prompt the model reads, counted with its own tokenizer: a longer prompt (or
negative prompt) is refused, never cut silently by the text encoder.

Every Gesso model reads its prompts through the packaged MiniLM tokenizer and the encoder's
window of `MAX_TOKENS` tokens, so one tokenizer, loaded once (it is small: no weights) and
shared by every model, counts for all of them.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from gesso.jobs.request_errors import BadRequest
from gesso.model.text_encoder import MAX_TOKENS, load_tokenizer

# a fast tokenizer sets its truncation state on every call: concurrent calls would collide
_TOKENIZER_LOCK = threading.Lock()
PARAM_NAMES = {"prompt": "prompt", "negative_prompt": "negative prompt"}


@lru_cache(maxsize=1)
def _tokenizer():  # noqa: ANN202 - a transformers tokenizer
    return load_tokenizer()


def prompt_token_limit() -> int:
    """Tokens of text the encoder reads: its window less the special tokens it adds."""
    return MAX_TOKENS - _tokenizer().num_special_tokens_to_add()


def prompt_tokens(text: str) -> int:
    """The number of tokens `text` is to the model (special tokens not counted)."""
    with _TOKENIZER_LOCK:
        return len(_tokenizer()(text, add_special_tokens=False)["input_ids"])


def check_prompt_length(text: str, param: str) -> None:
    """Raise BadRequest(param) when the model would not read all of `text`."""
    count, limit = prompt_tokens(text), prompt_token_limit()
    if count > limit:
        label = PARAM_NAMES.get(param, param)
        raise BadRequest(
            f"{label} is {count} tokens long; the model reads at most {limit} tokens, so shorten it", param
        )
