import pytest
import torch
import yaml

from gesso.train.evaluation import ParaphraseError, evaluate, mean_pairwise_distance, ranks_of_targets
from gesso.train.recogniser_loop import augment
from gesso.train.recogniser_net import Recogniser, RecogniserConfig, load_recogniser, save_recogniser
from gesso.train.recogniser_loop import train_recogniser
from gesso.train.run_config import RecogniserRunConfig


def test_ranks_of_targets_counts_better_classes():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.2, 0.1]])

    ranks = ranks_of_targets(Fixed(), torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.tensor([2, 0]))
    assert ranks.tolist() == [1, 0]


def test_mean_pairwise_distance_is_zero_for_copies_and_positive_otherwise():
    same = torch.ones(4, 8)
    assert abs(mean_pairwise_distance(same)) < 1e-6
    assert mean_pairwise_distance(torch.eye(4)) == 1.0


def test_augment_keeps_shape_and_range():
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    assert not torch.equal(out, x)


def test_recogniser_learns_shapes_and_round_trips(shape_dataset, tmp_path):
    cfg = RecogniserRunConfig(data_dir=str(shape_dataset), out_dir=str(tmp_path / "rec"), image_size=32,
                              batch_size=32, learning_rate=0.01, max_steps=60, mixed_precision="no")
    out = train_recogniser(cfg, progress=False)
    net, labels = load_recogniser(out)
    assert len(labels) == 16 and {"concept", "concept_id"} <= set(labels[0])
    from gesso.data.dataset_format import read_rows
    from gesso.train.image_tensors import load_images

    rows = read_rows(shape_dataset)
    images = load_images(shape_dataset, rows, 32)
    index = {item["concept_id"]: i for i, item in enumerate(labels)}
    targets = torch.tensor([index[r.extra["concept_id"]] for r in rows])
    ranks = ranks_of_targets(net, images, targets)
    assert (ranks < 5).float().mean() > 0.5  # far above chance (5/16) after a few steps


def test_evaluate_reports_every_figure(tiny_pipeline, tmp_path):
    labels = [{"concept": c, "concept_id": str(i)} for i, c in enumerate(["red circle", "blue square", "green circle"])]
    net = Recogniser(RecogniserConfig(num_classes=3, widths=(8, 8, 8), embed_dim=8)).eval()
    para = tmp_path / "para.yaml"
    para.write_text(yaml.safe_dump([{"prompt": "a round red thing", "concept": "red circle"}]))
    report = evaluate(tiny_pipeline, net, labels, para, steps=2, diversity_concepts=2, diversity_seeds=2, batch=4)
    assert report.concepts == 3 and report.paraphrases == 1
    assert 0 <= report.top1 <= report.top5 <= 1
    assert report.chance_top5 == 5 / 3
    assert report.diversity >= 0
    assert report.sampler == "euler" and report.steps == 2  # the sampler the pipeline ran with


@pytest.mark.parametrize(
    ("entries", "message"),
    [([{"prompt": "a round red thing", "concept": "purple hexagon"}], "entry 1: concept 'purple hexagon' is not a label"),
     ([{"prompt": "a round red thing", "concept": "red circle"}, {"concept": "red circle"}], "entry 2 has no prompt")],
)
def test_a_bad_paraphrase_file_is_refused_before_anything_is_generated(tiny_pipeline, tmp_path, entries, message):
    labels = [{"concept": "red circle", "concept_id": "0"}]
    net = Recogniser(RecogniserConfig(num_classes=1, widths=(8, 8, 8), embed_dim=8)).eval()
    para = tmp_path / "para.yaml"
    para.write_text(yaml.safe_dump(entries))
    calls = []
    hook = tiny_pipeline.transformer.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        with pytest.raises(ParaphraseError, match=message):
            evaluate(tiny_pipeline, net, labels, para, steps=1)
    finally:
        hook.remove()
    assert calls == []


def test_saved_recogniser_is_fp16_safetensors(tmp_path):
    net = Recogniser(RecogniserConfig(num_classes=4, widths=(8, 8, 8), embed_dim=8)).eval()
    save_recogniser(net, [{"concept": str(i), "concept_id": str(i)} for i in range(4)], tmp_path)
    loaded, _ = load_recogniser(tmp_path)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(net(x), loaded(x), atol=5e-2)
