"""helpers.textures: the synthetic multimodal task of notebook 06 and its per-class texture measure, checked on
cases whose answer is known (the truth scores 0, blur and flat colour score badly, white noise of the right power
too)."""
import math

import pytest
import torch
import torch.nn.functional as F

from helpers.metrics import rgb_to_y
from helpers.textures import (
    DEFAULT_CLASSES,
    TextureClass,
    TextureTask,
    class_spectra,
    label_maps,
    noise_matched_per_class,
    texture_distance,
)


@pytest.fixture(scope="module")
def heldout():
    task = TextureTask()
    labels, photos = task.sample(4, 96, torch.Generator().manual_seed(0))
    return task, labels, photos


def test_label_maps_are_voronoi_cells_of_valid_classes():
    maps = label_maps(3, 40, 4, 5, torch.Generator().manual_seed(1))
    assert maps.shape == (3, 40, 40) and maps.dtype == torch.int64
    assert int(maps.min()) >= 0 and int(maps.max()) <= 3
    with pytest.raises(ValueError, match=">= 1"):
        label_maps(1, 8, 0, 3, torch.Generator())


def test_textures_have_unit_variance_and_their_power_at_the_class_frequency():
    task = TextureTask()
    tex = task.textures(64, 32, 32, torch.Generator().manual_seed(2))
    assert tex.shape == (64, 4, 32, 32)
    assert tex.mean().abs() < 0.02
    assert tex.var(dim=(0, 2, 3)).sub(1).abs().max() < 0.1
    power = torch.fft.fft2(tex).abs().pow(2).mean(0)  # (K, 32, 32)
    for k, c in enumerate(task.classes):
        i = int(power[k].flatten().argmax())
        fy, fx = torch.fft.fftfreq(32)[i // 32], torch.fft.fftfreq(32)[i % 32]
        assert float((fx**2 + fy**2).sqrt()) == pytest.approx(c.frequency, abs=1.5 / 32)
        angle = math.degrees(math.atan2(float(fy), float(fx))) % 180
        assert min(abs(angle - c.orientation), 180 - abs(angle - c.orientation)) < 20


def test_render_gives_each_region_its_class_colour_and_contrast():
    task = TextureTask(cell_size=64)
    labels, photos = task.sample(16, 64, torch.Generator().manual_seed(3))
    assert labels.shape == (16, 4, 64, 64) and photos.shape == (16, 3, 64, 64)
    assert torch.equal(labels.sum(1), torch.ones(16, 64, 64))
    assert 0 <= float(photos.min()) and float(photos.max()) <= 1
    for k, c in enumerate(task.classes):
        m = labels[:, k:k + 1].bool().expand_as(photos)
        mean = torch.stack([photos[:, i][m[:, i]].mean() for i in range(3)])
        assert torch.allclose(mean, torch.tensor(c.colour), atol=0.02)
        luma = rgb_to_y(photos)[labels[:, k:k + 1].bool()] * 255 / 219
        assert float(luma.std()) == pytest.approx(c.contrast, rel=0.2)
    assert torch.equal(task.mean_colour(labels[:1, :, :1, :1]).flatten(),
                       torch.tensor(task.classes[int(labels[0, :, 0, 0].argmax())].colour))


def test_one_label_map_has_many_renderings():
    task = TextureTask()
    labels = label_maps(2, 32, 4, 3, torch.Generator().manual_seed(4))
    a = task.render(labels, torch.Generator().manual_seed(5))
    b = task.render(labels, torch.Generator().manual_seed(6))
    assert (a - b).abs().mean() > 0.05  # the phase is random: the target is multimodal


def test_the_truth_scores_zero_and_another_rendering_scores_near_zero(heldout):
    task, labels, photos = heldout
    assert torch.equal(texture_distance(photos, photos, labels), torch.zeros(4))
    other = task.render(labels.argmax(1), torch.Generator().manual_seed(7))
    assert float(texture_distance(other, photos, labels).max()) < 2.0


def test_blur_flat_colour_and_matched_noise_score_worse_than_another_rendering(heldout):
    task, labels, photos = heldout
    other = task.render(labels.argmax(1), torch.Generator().manual_seed(7))
    ref = texture_distance(other, photos, labels)
    blur = F.avg_pool2d(F.pad(photos, (2, 2, 2, 2), mode="reflect"), 5, stride=1)
    flat = task.mean_colour(labels)
    noisy = noise_matched_per_class(flat, photos, labels, torch.Generator().manual_seed(8))
    d_blur, d_flat, d_noise = (texture_distance(x, photos, labels) for x in (blur, flat, noisy))
    assert bool((d_blur > ref + 0.5).all())
    assert bool((d_flat > d_blur).all())
    assert bool((d_noise > ref + 3).all())
    # a flat region is floored at 1 % of the truth's mean power: finite, and at most 20 dB per bin
    assert bool((d_flat < 20).all())


def test_texture_distance_is_symmetric_in_db_and_scales_with_amplitude(heldout):
    task, labels, photos = heldout
    flat = task.mean_colour(labels)
    half = flat + 0.5 * (photos - flat)
    d = texture_distance(half, photos, labels, floor=1e-9)
    # every bin's power drops by 4x (-6.02 dB) except where clamping to [0, 1] interfered
    assert float(d.mean()) == pytest.approx(10 * math.log10(4), abs=0.3)
    louder = flat + 2.0 * (half - flat)
    assert torch.allclose(texture_distance(louder, photos, labels), torch.zeros(4), atol=0.3)


def test_class_spectra_counts_only_patches_wholly_inside_a_class():
    labels = torch.zeros(1, 2, 32, 32)
    labels[:, 0, :, :16], labels[:, 1, :, 16:] = 1, 1  # left half class 0, right half class 1
    img = torch.rand(1, 3, 32, 32)
    spectra, counts = class_spectra(img, labels, patch=16, stride=8)
    assert counts.tolist() == [[3.0, 3.0]]  # x offsets 0 (class 0), 16 (class 1); 8 straddles; 3 rows each
    assert spectra.shape == (1, 2, 16)
    with pytest.raises(ValueError, match="one-hot labels"):
        class_spectra(img, labels[:, :, :16])


def test_noise_matched_brings_each_region_to_the_truths_luma_variance(heldout):
    task, labels, photos = heldout
    flat = task.mean_colour(labels)
    noisy = noise_matched_per_class(flat, photos, labels, torch.Generator().manual_seed(9))
    diff, unclamped = noisy - flat, ((noisy > 0) & (noisy < 1)).all(1)
    assert torch.allclose(diff[:, 0][unclamped], diff[:, 1][unclamped], atol=1e-6)  # grey noise
    assert torch.allclose(diff[:, 1][unclamped], diff[:, 2][unclamped], atol=1e-6)
    y_noisy, y_true = (rgb_to_y(x) * 255 / 219 for x in (noisy, photos))
    for k in range(task.n_classes):
        m = labels[:, k:k + 1].bool()
        if m.sum() > 2000:
            assert float(y_noisy[m].var()) == pytest.approx(float(y_true[m].var()), rel=0.15)
    assert torch.equal(noise_matched_per_class(photos, photos, labels, torch.Generator()), photos)  # nothing missing


def test_bad_inputs_get_clear_errors(heldout):
    task, labels, photos = heldout
    with pytest.raises(ValueError, match="differ in shape"):
        texture_distance(photos[:, :, :64], photos, labels)
    with pytest.raises(ValueError, match="no class"):
        texture_distance(photos[..., :8, :8], photos[..., :8, :8], labels[..., :8, :8], patch=4, min_patches=100)
    with pytest.raises(ValueError, match="frequency"):
        TextureTask((TextureClass("x", (0.5, 0.5, 0.5), 0.1, 0.6, 0.0),))
    with pytest.raises(ValueError, match="share"):
        noise_matched_per_class(photos, photos, labels[:2], torch.Generator())
    assert len(DEFAULT_CLASSES) == 4
