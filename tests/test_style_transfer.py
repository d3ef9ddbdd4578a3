"""helpers.style_transfer: Gatys et al. (2016) Gram matrices, content and style losses on tiny hand-computed tensors."""
import pytest
import torch

from helpers.style_transfer import GATYS_CONTENT_LAYER, GATYS_STYLE_WEIGHTS, content_loss, gram_matrix, style_loss

# one image, two channels, 1x2 positions: F = [[1, 2], [3, 4]]
F_TINY = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
# F F^T = [[5, 11], [11, 25]], divided by C * H * W = 2 * 1 * 2 = 4
GRAM_TINY = torch.tensor([[[1.25, 2.75], [2.75, 6.25]]])


def test_gram_matrix_hand_computed_with_normalisation():
    g = gram_matrix(F_TINY)
    assert g.shape == (1, 2, 2)
    assert torch.allclose(g, GRAM_TINY)


def test_gram_matrix_normalises_by_channels_and_positions():
    # doubling the positions with copies of the same values keeps the Gram matrix (a mean over positions)
    doubled = torch.cat([F_TINY, F_TINY], dim=3)
    assert torch.allclose(gram_matrix(doubled), GRAM_TINY)
    # one channel, H=2, W=3, all ones: sum over 6 positions of 1 / (1 * 2 * 3) = 1
    assert torch.allclose(gram_matrix(torch.ones(1, 1, 2, 3)), torch.ones(1, 1, 1))
    # four channels of ones, one position: every entry 1 / 4
    assert torch.allclose(gram_matrix(torch.ones(1, 4, 1, 1)), torch.full((1, 4, 4), 0.25))


def test_gram_matrix_batch_symmetry_and_positions_forgotten():
    x = torch.randn(3, 5, 4, 6, generator=torch.Generator().manual_seed(0))
    g = gram_matrix(x)
    assert g.shape == (3, 5, 5)
    assert torch.allclose(g, g.transpose(1, 2))
    assert torch.allclose(g[1], gram_matrix(x[1:2])[0])  # each image on its own
    shuffled = x.flatten(2)[:, :, torch.randperm(24, generator=torch.Generator().manual_seed(1))].reshape(x.shape)
    assert torch.allclose(gram_matrix(shuffled), g, atol=1e-6)  # where a feature fired does not matter


def test_gram_matrix_float32_and_shape_error():
    assert gram_matrix(F_TINY.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match="B, C, H, W"):
        gram_matrix(torch.ones(2, 3, 4))


def test_style_loss_hand_computed():
    feats = {"a": F_TINY}
    zero = {"a": torch.zeros(1, 2, 2)}
    # 1/4 * (1.25^2 + 2 * 2.75^2 + 6.25^2) = 1/4 * 55.75
    assert style_loss(feats, zero, {"a": 1.0}).item() == pytest.approx(13.9375)
    assert style_loss(feats, zero, {"a": 0.5}).item() == pytest.approx(13.9375 / 2)
    target = {"a": GRAM_TINY + torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])}
    assert style_loss(feats, target, {"a": 1.0}).item() == pytest.approx(0.25)


def test_style_loss_zero_for_identical_positive_otherwise():
    gen = torch.Generator().manual_seed(0)
    feats = {layer: torch.rand(1, 3, 4, 4, generator=gen) for layer in GATYS_STYLE_WEIGHTS}
    grams = {layer: gram_matrix(f) for layer, f in feats.items()}
    assert style_loss(feats, grams).item() == 0.0
    other = {layer: f.flip(1) * 1.5 for layer, f in feats.items()}
    assert style_loss(other, grams).item() > 0


def test_style_loss_sums_weighted_layers_and_averages_batch():
    feats = {"a": F_TINY, "b": 2 * F_TINY}
    zero = {"a": torch.zeros(1, 2, 2), "b": torch.zeros(1, 2, 2)}
    # layer b's Gram matrix is 4x layer a's, so its error is 16x
    assert style_loss(feats, zero, {"a": 1.0, "b": 1.0}).item() == pytest.approx(13.9375 * 17)
    assert style_loss(feats, zero, {"a": 0.0, "b": 1.0}).item() == pytest.approx(13.9375 * 16)
    batch = {"a": torch.cat([F_TINY, torch.zeros_like(F_TINY)])}
    assert style_loss(batch, zero, {"a": 1.0}).item() == pytest.approx(13.9375 / 2)


def test_style_loss_skips_zero_weights_and_names_missing_layers():
    feats = {"a": F_TINY}
    zero = {"a": torch.zeros(1, 2, 2)}
    assert style_loss(feats, zero, {"a": 1.0, "missing": 0.0}).item() == pytest.approx(13.9375)
    with pytest.raises(KeyError, match="missing"):
        style_loss(feats, zero, {"a": 1.0, "missing": 0.2})


def test_style_loss_has_gradient():
    x = F_TINY.clone().requires_grad_(True)
    style_loss({"a": x}, {"a": torch.zeros(1, 2, 2)}, {"a": 1.0}).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_content_loss_hand_computed_and_batch_mean():
    feats = {GATYS_CONTENT_LAYER: torch.ones(2, 1, 1, 2)}
    targets = {GATYS_CONTENT_LAYER: torch.zeros(1, 1, 1, 2)}
    assert content_loss(feats, targets).item() == pytest.approx(1.0)  # 1/2 * (1 + 1) per image
    feats = {GATYS_CONTENT_LAYER: torch.tensor([3.0, 0.0]).reshape(1, 1, 1, 2)}
    assert content_loss(feats, targets).item() == pytest.approx(4.5)  # 1/2 * 9
    two = {GATYS_CONTENT_LAYER: torch.cat([torch.full((1, 1, 1, 2), 2.0), torch.zeros(1, 1, 1, 2)])}
    assert content_loss(two, targets).item() == pytest.approx(2.0)  # (4 + 0) / 2


def test_content_loss_reads_only_the_chosen_layer():
    gen = torch.Generator().manual_seed(0)
    targets = {"relu2_1": torch.rand(1, 2, 3, 3, generator=gen), "relu4_2": torch.rand(1, 2, 3, 3, generator=gen)}
    feats = {"relu2_1": targets["relu2_1"] + 1.0, "relu4_2": targets["relu4_2"].clone()}
    assert content_loss(feats, targets).item() == 0.0  # default layer relu4_2 matches
    assert content_loss(feats, targets, layer="relu2_1").item() == pytest.approx(0.5 * 18)
    with pytest.raises(KeyError, match="relu5_2"):
        content_loss(feats, targets, layer="relu5_2")


def test_gatys_layer_choice():
    assert GATYS_CONTENT_LAYER == "relu4_2"
    assert list(GATYS_STYLE_WEIGHTS) == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert all(w == pytest.approx(0.2) for w in GATYS_STYLE_WEIGHTS.values())
