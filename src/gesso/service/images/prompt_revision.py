"""The prompt-understanding step on an image request: a plain-language prompt becomes the name of
a concept the model knows (model/prompt_vocabulary.py), and the request carries both, so the
response's `revised_prompt` says what the model was given. Never silent: a request turns it off
with `revise_prompt: false`, and a tenant sets the default (`prompt_revision`, on unless changed).
A fine-tuned model's prompts are revised only when the request asks: they carry the trigger word
and the brand's own words, which the base model's vocabulary does not know and a revision drops.
"""

from __future__ import annotations

from dataclasses import replace

from gesso.engine.prompt_vocabularies import model_vocabulary
from gesso.governance.authorisation import Principal
from gesso.governance.tenant_policy import TenantSettings
from gesso.jobs.model_ids import base_model_of, is_fine_tuned
from gesso.model.prompt_vocabulary import revise
from gesso.service.images.image_requests import ImageRequest
from gesso.service.policy.content_policy import enforce_content_policy
from gesso.service.runtime.app_state import ServiceState


def revised_request(
    state: ServiceState,
    principal: Principal,
    image_request: ImageRequest,
    asked: bool | None,
    settings: TenantSettings,
    moderation: str | None = None,
) -> ImageRequest:
    """`image_request` with `revised_prompt` set when the step applies and changes the prompt;
    the revised prompt must pass the tenant's content policy too (400 otherwise).

    `asked`: the request's `revise_prompt` (None: the tenant's default, from `settings`, which the
    request's governance check read). Blocking (may embed the prompt): call it from a worker
    thread in async routes.
    """
    generation = image_request.generation
    if asked is False or not generation.prompt or generation.kind == "variation":
        return image_request
    if asked is None and is_fine_tuned(generation.model):
        return image_request
    vocabulary = model_vocabulary(state.settings.models_dir, base_model_of(generation.model))
    if vocabulary is None:
        return image_request
    if asked is None and not settings.prompt_revision:
        return image_request
    revised = revise(generation.prompt, vocabulary, state.governance.embedder())
    if revised is None:
        return image_request
    enforce_content_policy(state, principal, [("prompt", revised)], moderation=moderation or "auto", settings=settings)
    return replace(image_request, generation=replace(generation, revised_prompt=revised))
