import torch

from gesso.model.alpha_compositing import (
    clean_premultiplied,
    composite_on_white,
    premultiplied_model_range,
    to_straight_uint8,
)


def rgba(*pixels: tuple[int, int, int, int]) -> torch.Tensor:
    """(1, 4, 1, len(pixels)) uint8 straight RGBA."""
    return torch.tensor(pixels, dtype=torch.uint8).T.reshape(1, 4, 1, len(pixels))


def test_transparent_pixels_are_minus_one_whatever_their_colour():
    x = premultiplied_model_range(rgba((255, 255, 255, 0), (0, 0, 0, 0), (10, 200, 30, 0)))
    assert torch.equal(x, -torch.ones_like(x))


def test_half_transparent_red_is_premultiplied():
    x = premultiplied_model_range(rgba((255, 0, 0, 128)))
    a = 128 / 255
    assert torch.allclose((x[0, :, 0, 0] + 1) / 2, torch.tensor([a, 0.0, 0.0, a]))


def test_clean_sets_faint_alpha_to_zero_and_keeps_colour_under_alpha():
    decoded = torch.tensor([0.2, 0.9, -0.5, -0.999]).reshape(
        1, 4, 1, 1
    )  # alpha ~0.0005, colour > alpha
    clean = clean_premultiplied(decoded)
    assert clean[0, 3].item() == 0.0 and torch.all(clean[0, :3] == 0)
    decoded = torch.tensor([1.0, 1.0, -1.0, 0.0]).reshape(1, 4, 1, 1)  # colour 1 over alpha 0.5
    clean = clean_premultiplied(decoded)
    assert torch.allclose(clean[0, :, 0, 0], torch.tensor([0.5, 0.5, 0.0, 0.5]))


def test_round_trip_to_straight_keeps_opaque_and_transparent_pixels():
    original = rgba((12, 200, 99, 255), (0, 0, 0, 0), (255, 128, 0, 255))
    back = to_straight_uint8(clean_premultiplied(premultiplied_model_range(original)))
    assert torch.equal(back, original)


def test_transparent_on_white_is_white_and_opaque_keeps_its_colour():
    x = clean_premultiplied(premultiplied_model_range(rgba((0, 0, 0, 0), (255, 0, 0, 255))))
    white = composite_on_white(x)
    assert torch.allclose(white[0, :, 0, 0], torch.ones(3)) and torch.allclose(
        white[0, :, 0, 1], torch.tensor([1.0, 0, 0])
    )
