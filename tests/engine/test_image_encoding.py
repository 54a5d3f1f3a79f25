"""Edit and variation inputs are decoded by the bounded decoder in the engine too."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from gesso.data.image_decoding import ImageRejected
from gesso.engine.image_encoding import image_tensor, mask_tensor
from tests.hostile_images import huge_png, many_frame_gif, random_bytes, truncated_png


@pytest.mark.parametrize("convert", [image_tensor, mask_tensor])
@pytest.mark.parametrize("data", [huge_png(14000, 14000), huge_png(4200, 4200), random_bytes(), truncated_png()])
def test_engine_input_decoding_refuses_bombs_and_garbage_with_one_error(convert, data):
    with pytest.raises(ImageRejected):
        convert(data, (32, 32), max_pixels=4096 * 4096)


def test_engine_input_decoding_takes_frame_zero_of_an_animation():
    tensor = image_tensor(many_frame_gif(200), (16, 16))
    assert tensor.shape == (1, 3, 16, 16)
    assert tensor[0, 0].min() > 0.9 and tensor[0, 1].max() < -0.9  # red: R = 1, G = -1


def test_mask_tensor_reads_the_alpha_channel():
    mask = Image.new("RGBA", (32, 32), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 16, 32))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    repaint = mask_tensor(buffer.getvalue(), (32, 32))
    assert repaint.shape == (1, 1, 32, 32) and repaint[0, 0, :, :16].min() == 1 and repaint[0, 0, :, 16:].max() == 0
