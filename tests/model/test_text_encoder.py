import threading
import time

import pytest
import torch

from gesso.model import text_encoder
from gesso.model.text_encoder import (
    MiniLMEmbedder,
    encode_text,
    pooled_embedding,
    sentence_embeddings,
)

TEXTS = ["red apple", "a yellow face laughing with tears, flat style", "dog", ""]


@pytest.fixture(scope="module")
def embed() -> MiniLMEmbedder:
    return MiniLMEmbedder(max_tokens=64)


def test_sentence_embeddings_do_not_depend_on_padding(embed):
    whole_window = pooled_embedding(*encode_text(TEXTS, embed.model, embed.tokenizer, 64))
    longest_only = sentence_embeddings(TEXTS, embed.model, embed.tokenizer, 64)
    assert longest_only.shape == (len(TEXTS), 384)
    torch.testing.assert_close(longest_only, whole_window, atol=1e-5, rtol=0)
    alone = sentence_embeddings(["dog"], embed.model, embed.tokenizer, 64)
    torch.testing.assert_close(alone[0], longest_only[2], atol=1e-5, rtol=0)


def test_callers_that_wait_for_the_model_share_one_pass(embed, monkeypatch):
    expected = {text: embed([text])[0] for text in [f"prompt number {k}" for k in range(8)]}
    embed._cache.clear()
    passes: list[list[str]] = []
    first_pass_running, let_first_pass_finish = threading.Event(), threading.Event()

    def counted(texts, *args):
        passes.append(list(texts))
        if len(passes) == 1:
            first_pass_running.set()
            assert let_first_pass_finish.wait(30)
        return sentence_embeddings(texts, *args)

    monkeypatch.setattr(text_encoder, "sentence_embeddings", counted)
    results: dict[str, torch.Tensor] = {}
    prompts = list(expected)

    def call(text: str) -> None:
        results[text] = embed([text])[0]

    first = threading.Thread(target=call, args=(prompts[0],))
    first.start()
    assert first_pass_running.wait(30)
    others = [threading.Thread(target=call, args=(text,)) for text in prompts[1:]]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 30
    while len(embed._pending) < len(others) and time.monotonic() < deadline:
        time.sleep(0.01)
    let_first_pass_finish.set()
    for thread in [first, *others]:
        thread.join(30)
    assert passes[0] == [prompts[0]]
    assert len(passes) == 2 and sorted(passes[1]) == sorted(prompts[1:])  # the 7 waiting callers: one pass
    for text in prompts:
        torch.testing.assert_close(results[text], expected[text], atol=1e-5, rtol=0)
    assert embed._pending == {}


def test_an_empty_list_embeds_nothing(embed):
    assert embed([]).shape == (0, 384)
