import math

import pytest
import torch

from helpers.digit_scores import DigitClassifier, coverage_from_probs, digits_split, score_samples


def _onehot(classes, conf=0.9):
    p = torch.full((len(classes), 10), (1 - conf) / 9)
    p[torch.arange(len(classes)), torch.tensor(classes)] = conf
    return p


def test_uniform_over_classes_covers_all():
    c = coverage_from_probs(_onehot([i % 10 for i in range(100)]))
    assert c.covered == 10 and c.n == 100 and c.unsure == 0
    assert c.histogram == (10,) * 10
    assert c.min_count == 2  # ceil(0.2 * 100 / 10)
    assert math.isclose(c.mean_confidence, 0.9, rel_tol=1e-6)


def test_collapse_covers_few_and_min_count_matters():
    classes = [3] * 90 + [0] * 9 + [1]  # 100 samples: 3 dominates, 0 enough, 1 too rare
    c = coverage_from_probs(_onehot(classes))
    assert c.histogram[3] == 90 and c.histogram[0] == 9 and c.histogram[1] == 1
    assert c.covered == 2
    assert coverage_from_probs(_onehot(classes), min_share=0.1).covered == 3  # min_count 1
    assert coverage_from_probs(_onehot(classes), min_share=1.0).covered == 1  # min_count 10


def test_threshold_makes_samples_unsure():
    probs = torch.cat([_onehot([5] * 10, conf=0.4), _onehot([7] * 10, conf=0.6)])
    c = coverage_from_probs(probs, threshold=0.5, min_share=0.1)
    assert c.unsure == 10 and c.histogram[5] == 0 and c.histogram[7] == 10
    assert c.covered == 1
    assert math.isclose(c.mean_confidence, 0.5, rel_tol=1e-6)
    assert coverage_from_probs(probs, threshold=0.3, min_share=0.1).covered == 2
    row = c.row()
    assert row["covered"] == 1 and math.isclose(row["unsure_share"], 0.5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="N, 10"):
        coverage_from_probs(torch.rand(4, 9))
    with pytest.raises(ValueError):
        coverage_from_probs(_onehot([1]), threshold=1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        score_samples(DigitClassifier(), torch.full((2, 1, 16, 16), -1.0))
    with pytest.raises(ValueError, match="B, 1 or 3"):
        DigitClassifier()(torch.rand(2, 2, 16, 16))
    with pytest.raises(ValueError):
        digits_split(test_fraction=1.0)


def test_split_is_disjoint_and_fixed():
    x_tr, y_tr, x_te, y_te = digits_split(16, seed=0)
    assert len(x_tr) + len(x_te) == 1797 and len(x_te) == round(1797 * 0.2)
    assert x_tr.shape[1:] == (1, 16, 16) and x_tr.min() >= 0 and x_tr.max() <= 1
    flat_tr = {tuple(r) for r in x_tr.flatten(1)[:, ::7].tolist()}
    overlap = sum(tuple(r) in flat_tr for r in x_te.flatten(1)[:, ::7].tolist())
    assert overlap <= 3  # scikit-learn's digits hold a few exact duplicates, nothing more
    assert torch.equal(digits_split(16, seed=0)[3], y_te)
    assert not torch.equal(digits_split(16, seed=1)[3], y_te)


def test_classifier_any_size_and_channels():
    m = DigitClassifier().eval()
    assert m(torch.rand(2, 1, 32, 32)).shape == (2, 10)
    x = torch.rand(2, 1, 16, 16)
    assert torch.allclose(m(x.repeat(1, 3, 1, 1)), m(x), atol=1e-6)


def test_score_samples_uses_the_classifier():
    class Fixed(torch.nn.Module):  # "classifier" that reads the class from the mean brightness
        def forward(self, x):
            cls = (x.mean((1, 2, 3)) * 9.99).long()
            return torch.nn.functional.one_hot(cls, 10).float() * 20

    imgs = torch.stack([torch.full((1, 16, 16), (i % 10) / 10 + 0.05) for i in range(50)])
    c = score_samples(Fixed(), imgs, batch_size=7)
    assert c.covered == 10 and c.histogram == (5,) * 10 and c.mean_confidence > 0.99


def test_train_classifier_caches_and_learns(tmp_path, monkeypatch):
    from helpers.digit_scores import train_digit_classifier

    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path))
    threads = torch.get_num_threads()
    model, info = train_digit_classifier(seed=3, epochs=3)
    assert info["source"] == "trained" and info["heldout_accuracy"] > 0.8
    assert torch.get_num_threads() == threads  # restored
    assert len(list(tmp_path.glob("digit_classifier_*seed3_ep3.pt"))) == 1
    again, info2 = train_digit_classifier(seed=3, epochs=3)
    assert info2["source"] == "cache" and info2["heldout_accuracy"] == info["heldout_accuracy"]
    x = torch.rand(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    noise = score_samples(model, torch.rand(200, 1, 16, 16))
    assert noise.mean_confidence < 0.5  # outlier exposure: noise is not a confident digit


def test_min_count_rounds_up_and_threshold_is_inclusive():
    c = coverage_from_probs(_onehot([i % 10 for i in range(55)]))
    assert c.min_count == 2  # ceil(0.2 * 55 / 10) = ceil(1.1)
    assert coverage_from_probs(_onehot([7] * 10, conf=0.6), threshold=0.6).unsure == 0
