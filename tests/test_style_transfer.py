"""helpers.style_transfer: Gatys et al. (2016) Gram matrices, content and style losses on tiny hand-computed tensors;
the generated stained-glass style image and the histogram-matching control of notebook 09."""
import pytest
import torch

from helpers.style_transfer import (
    GATYS_CONTENT_LAYER,
    GATYS_STYLE_WEIGHTS,
    content_loss,
    gram_matrix,
    match_histograms,
    stained_glass,
    style_loss,
)

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


def test_stained_glass_shape_range_and_seed():
    img = stained_glass(48, cell=12, line=2.0, seed=0)
    assert img.shape == (3, 48, 48) and img.dtype == torch.float32
    assert img.min() >= 0 and img.max() <= 1
    assert torch.equal(img, stained_glass(48, cell=12, line=2.0, seed=0))
    assert not torch.equal(img, stained_glass(48, cell=12, line=2.0, seed=1))


def test_stained_glass_cells_and_lead_lines():
    img = stained_glass(64, cell=16, line=2.0, seed=0)
    lead = (img == 0.08).all(dim=0)
    glass = img[:, ~lead]
    # every cell pixel is one saturated colour: value 0.9, saturation 0.75 -> max 0.9, min 0.9 * 0.25
    assert torch.allclose(glass.max(dim=0).values, torch.full((glass.shape[1],), 0.9))
    assert torch.allclose(glass.min(dim=0).values, torch.full((glass.shape[1],), 0.225), atol=1e-6)
    # one colour per cell: 4 x 4 blocks of 16 px, so at most 16 colours, and most of them show
    colours = torch.unique(glass.T, dim=0)
    assert 12 <= len(colours) <= 16
    # lead lines about 2 px wide around cells about 16 px across: a clear share of the image, not most of it
    share = lead.float().mean().item()
    assert 0.1 < share < 0.4
    # wider lines cover more, thinner ones less, with the same cells
    wider = (stained_glass(64, cell=16, line=4.0, seed=0) == 0.08).all(dim=0).float().mean().item()
    thinner = (stained_glass(64, cell=16, line=0.5, seed=0) == 0.08).all(dim=0).float().mean().item()
    assert thinner < share < wider
    assert wider == pytest.approx(2 * share, rel=0.25)


def test_stained_glass_cell_size_sets_the_number_of_cells():
    few = torch.unique(stained_glass(64, cell=32, line=1.0).reshape(3, -1).T, dim=0)
    many = torch.unique(stained_glass(64, cell=8, line=1.0).reshape(3, -1).T, dim=0)
    assert len(few) <= 4 + 1 < 40 <= len(many) <= 64 + 1  # cells plus the lead colour


def test_stained_glass_bad_input():
    for kwargs in ({"side": 0}, {"side": 32, "cell": 1}, {"side": 32, "line": 0.0}):
        with pytest.raises(ValueError, match="stained_glass needs"):
            stained_glass(**kwargs)


def test_match_histograms_keeps_ranks_and_takes_the_reference_values():
    img = torch.tensor([0.1, 0.5, 0.3, 0.9]).reshape(1, 1, 1, 4).expand(1, 3, 1, 4).clone()
    img[0, 2] = torch.tensor([0.9, 0.1, 0.5, 0.3])
    ref = torch.tensor([0.2, 0.4, 0.6, 0.8]).reshape(1, 1, 1, 4).expand(1, 3, 1, 4).clone()
    ref[0, 1] = torch.tensor([0.3, 0.0, 0.2, 0.1])  # the reference's order does not matter, its values do
    out = match_histograms(img, ref)
    assert out.shape == img.shape and out.dtype == torch.float32
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.2, 0.6, 0.4, 0.8]))  # rank k -> the k-th smallest
    assert torch.allclose(out[0, 1, 0], torch.tensor([0.0, 0.2, 0.1, 0.3]))  # channels matched separately
    assert torch.allclose(out[0, 2, 0], torch.tensor([0.8, 0.2, 0.6, 0.4]))


def test_match_histograms_per_image_and_broadcast_reference():
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 8, 8, generator=gen)
    ref = torch.rand(2, 3, 4, 16, generator=gen) * 0.5 + 0.25
    out = match_histograms(img, ref)
    for b in range(2):
        for c in range(3):
            assert torch.allclose(out[b, c].flatten().sort().values, ref[b, c].flatten().sort().values, atol=1e-6)
            assert torch.equal(out[b, c].flatten().argsort(), img[b, c].flatten().argsort())
    one = match_histograms(img, ref[:1])
    assert torch.allclose(one[1], match_histograms(img[1:], ref[:1])[0])
    assert torch.allclose(one[1, 0].flatten().sort().values, ref[0, 0].flatten().sort().values, atol=1e-6)


def test_match_histograms_bad_shapes():
    with pytest.raises(ValueError, match="x\\[None\\]"):
        match_histograms(torch.rand(3, 4, 4), torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="1 or B"):
        match_histograms(torch.rand(2, 3, 4, 4), torch.rand(3, 3, 4, 4))
