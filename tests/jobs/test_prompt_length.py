"""A prompt longer than the text encoder reads is refused with the limit in tokens, counted with
the model's own tokenizer; a prompt at the limit is read in full."""

from __future__ import annotations

import pytest

from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.prompt_length import check_prompt_length, prompt_token_limit, prompt_tokens
from gesso.jobs.request_checks import check_request
from gesso.jobs.request_errors import BadRequest
from gesso.model.text_encoder import MAX_TOKENS, encode_text

SIZES = [(32, 32)]


def words(count: int) -> str:
    """`count` words of one token each."""
    return " ".join(["red"] * count)


def test_the_limit_is_the_encoder_window_less_its_special_tokens():
    assert prompt_token_limit() == MAX_TOKENS - 2  # [CLS] and [SEP]
    assert prompt_tokens(words(5)) == 5


def test_a_prompt_at_the_limit_is_read_whole_and_one_token_more_would_be_cut(tiny_pipeline):
    limit = prompt_token_limit()
    check_prompt_length(words(limit), "prompt")  # accepted
    _, fits = encode_text([words(limit)], tiny_pipeline.text_encoder, tiny_pipeline.tokenizer)
    # every token, special ones too, is inside the window the denoiser attends to
    assert int(fits.sum()) == limit + 2 <= MAX_TOKENS
    with pytest.raises(BadRequest) as refused:
        check_prompt_length(words(limit + 1), "prompt")
    assert refused.value.param == "prompt"
    assert str(refused.value) == f"prompt is {limit + 1} tokens long; the model reads at most {limit} tokens, so shorten it"


@pytest.mark.parametrize(("field", "param"), [("prompt", "prompt"), ("negative", "negative_prompt")])
def test_check_request_refuses_either_prompt_over_the_limit(field, param):
    texts = {"prompt": "a red circle", "negative": "", field: words(prompt_token_limit() + 4)}
    request = GenerationRequest(size=(32, 32), **texts)
    with pytest.raises(BadRequest) as refused:
        check_request(request, 4, 50, SIZES)
    assert refused.value.param == param and f"at most {prompt_token_limit()} tokens" in str(refused.value)


def test_tokens_not_characters_decide():
    with pytest.raises(BadRequest):  # 40 characters, each a token of its own
        check_prompt_length("!" * 40, "prompt")
    long_words = "circle " * prompt_token_limit()  # over 200 characters, one token a word
    assert len(long_words) > 200 and prompt_tokens(long_words) == prompt_token_limit()
    check_prompt_length(long_words, "prompt")


def test_a_variation_has_no_prompt_to_count():
    check_request(GenerationRequest(prompt="", kind="variation", size=(32, 32)), 4, 50, SIZES)
    with pytest.raises(BadRequest, match="must not be empty"):
        check_request(GenerationRequest(prompt="", kind="edit", size=(32, 32)), 4, 50, SIZES)
