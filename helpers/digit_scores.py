"""Is the digit GAN working? A measured answer: a small classifier trained on the *real* scikit-learn digits
scores generated images. Introduced in notebook 05 (vanilla GAN and DCGAN); reused by notebook 10
(progressive GAN).

Definitions (:func:`coverage_from_probs`), for ``N`` samples with class probabilities ``p (N, 10)``:

* a sample is **confident** when its top probability is at least ``threshold`` (default 0.5);
* the **class histogram** counts the confident samples per predicted class (``unsure`` counts the rest);
* a class is **covered** when at least ``min_count = ceil(min_share * N / 10)`` confident samples fall in it,
  i.e. at least ``min_share`` (default 0.2) of the share a uniform generator would give it. With
  ``N = 1000`` a class needs 20 confident samples; a generator that collapsed onto a few digits covers few
  classes even when each of its images is sharp;
* **mean confidence** is the mean top probability over all ``N`` samples (sharp, digit-like images score
  high; blobs and mixtures score low).

Images are ``(B, 1, H, W)`` (or ``(B, 3, H, W)``, averaged to gray) in ``[0, 1]`` with white strokes on black,
as :func:`helpers.data.digits` returns them; any size is resized to the classifier's 16x16.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import cache_dir
from .data import digits

CLASSIFIER_SIZE = 16
CACHE_VERSION = 1


def digits_split(size: int = 16, seed: int = 0, test_fraction: float = 0.2):
    """The 1,797 scikit-learn digits split once at random (fixed ``seed``) into train and held-out parts.

    Returns ``(x_train, y_train, x_test, y_test)``; images ``(N, 1, size, size)`` in ``[0, 1]``, labels int64.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, not {test_fraction}.")
    x, y = digits(size)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


class DigitClassifier(nn.Module):
    """Small CNN: ``(B, 1|3, H, W)`` in ``[0, 1]`` -> logits ``(B, 10)``; inputs are resized to 16x16.

    conv3x3(16) - ReLU - maxpool - conv3x3(32) - ReLU - maxpool - linear(512 -> 64) - ReLU - linear(10).
    """

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"Expected images (B, 1 or 3, H, W) in [0, 1], got shape {tuple(x.shape)}.")
        x = x.float()
        if x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        if x.shape[-2:] != (CLASSIFIER_SIZE, CLASSIFIER_SIZE):
            x = F.interpolate(x, size=(CLASSIFIER_SIZE, CLASSIFIER_SIZE), mode="bilinear", align_corners=False,
                              antialias=True)
        return self.head(self.features(x))


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random shifts of up to one pixel in each direction (zero padding), so the score tolerates small offsets."""
    padded = F.pad(x, (1, 1, 1, 1))
    dy, dx = torch.randint(0, 3, (2,), generator=gen).tolist()
    return padded[..., dy:dy + x.shape[-2], dx:dx + x.shape[-1]]


def _outliers(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Images that are no digit, as many as ``x``: uniform noise, blurred noise blobs, blank (constant) images
    and the average of two real digits. Trained towards the uniform distribution (outlier exposure, Hendrycks
    et al. 2019), so the classifier is *unsure* of them instead of confidently calling noise a 3."""
    n = len(x)
    noise = torch.rand(x.shape, generator=gen)
    blobs = F.avg_pool2d(torch.rand(x.shape, generator=gen), 5, 1, 2)
    low, high = blobs.amin((2, 3), keepdim=True), blobs.amax((2, 3), keepdim=True)
    blobs = (blobs - low) / (high - low)
    mixed = (x + x[torch.randperm(n, generator=gen)]) / 2
    blank = torch.rand((n, 1, 1, 1), generator=gen).expand_as(x)
    kind = torch.randint(0, 4, (n, 1, 1, 1), generator=gen)
    return torch.where(kind == 0, noise, torch.where(kind == 1, blobs, torch.where(kind == 2, blank, mixed)))


def accuracy(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` classified as ``y``."""
    classifier.eval()
    with torch.no_grad():
        return float((classifier(x).argmax(1) == y).float().mean())


def train_digit_classifier(seed: int = 0, epochs: int = 30, use_cache: bool = True,
                           verbose: bool = False) -> tuple[DigitClassifier, dict]:
    """Train (or load from :func:`helpers.config.cache_dir`) the scorer on the train part of :func:`digits_split`.

    Returns ``(classifier in eval mode, info)``; ``info`` holds ``heldout_accuracy``, ``train_accuracy``,
    ``n_train``, ``n_test``, ``epochs``, ``seed`` and ``source`` ("cache" or "trained"). About 10 CPU seconds.
    Besides the digits it sees non-digits (:func:`_outliers`) with a uniform target, so noise scores low.
    """
    path = cache_dir() / f"digit_classifier_v{CACHE_VERSION}_seed{seed}_ep{epochs}.pt"
    model = DigitClassifier()
    if use_cache and path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(saved["state"])
            return model.eval(), {**saved["info"], "source": "cache"}
        except Exception:  # a broken cache file: train again and overwrite it
            pass
    torch_state, threads = torch.get_rng_state(), torch.get_num_threads()
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # a tiny network: one thread is fastest, and much faster on a busy CPU
    x_tr, y_tr, x_te, y_te = digits_split(CLASSIFIER_SIZE, seed)
    gen = torch.Generator().manual_seed(seed)
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_tr), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            real = _augment(x_tr[idx], gen)
            logits = model(torch.cat([real, _outliers(real, gen)]))
            loss = (F.cross_entropy(logits[:len(idx)], y_tr[idx])
                    - 0.5 * F.log_softmax(logits[len(idx):], 1).mean())  # cross-entropy to uniform
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if verbose:
            print(f"epoch {epoch + 1}: held-out accuracy {accuracy(model, x_te, y_te):.3f}")
    torch.set_rng_state(torch_state)
    torch.set_num_threads(threads)
    info = {"heldout_accuracy": accuracy(model, x_te, y_te), "train_accuracy": accuracy(model, x_tr, y_tr),
            "n_train": len(x_tr), "n_test": len(x_te), "epochs": epochs, "seed": seed}
    if use_cache:
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"state": model.state_dict(), "info": info}, tmp)
        tmp.replace(path)
    return model.eval(), {**info, "source": "trained"}


@dataclass(frozen=True)
class Coverage:
    """The score of a batch of samples (see the module docstring for the definitions)."""

    covered: int  # classes with at least min_count confident samples, out of 10
    n: int  # number of samples scored
    mean_confidence: float  # mean top-class probability over all n samples
    histogram: tuple[int, ...]  # confident samples per class 0..9
    unsure: int  # samples whose top probability is below threshold
    min_count: int
    threshold: float

    def row(self) -> dict[str, float]:
        """Flat numbers for a table / ``History.log``: covered, mean_confidence, unsure_share."""
        return {"covered": self.covered, "mean_confidence": self.mean_confidence, "unsure_share": self.unsure / self.n}

    def as_dict(self) -> dict:
        return asdict(self)


def coverage_from_probs(probs: torch.Tensor, threshold: float = 0.5, min_share: float = 0.2) -> Coverage:
    """Score class probabilities ``(N, 10)`` (rows sum to 1): histogram, covered classes, mean confidence."""
    if probs.ndim != 2 or probs.shape[1] != 10:
        raise ValueError(f"Expected class probabilities of shape (N, 10), got {tuple(probs.shape)}.")
    if not 0 <= threshold <= 1 or not 0 < min_share <= 10:
        raise ValueError("threshold must be in [0, 1] and min_share in (0, 10].")
    n = probs.shape[0]
    conf, cls = probs.float().max(1)
    confident = conf >= threshold
    hist = torch.bincount(cls[confident], minlength=10)
    min_count = max(1, math.ceil(min_share * n / 10))
    return Coverage(covered=int((hist >= min_count).sum()), n=n, mean_confidence=float(conf.mean()),
                    histogram=tuple(int(h) for h in hist), unsure=int((~confident).sum()), min_count=min_count,
                    threshold=threshold)


def score_samples(classifier: nn.Module, images: torch.Tensor, threshold: float = 0.5, min_share: float = 0.2,
                  batch_size: int = 500) -> Coverage:
    """Classify ``images`` (``(N, 1, H, W)`` in ``[0, 1]``) and return their :class:`Coverage`."""
    if images.min() < -1e-3 or images.max() > 1 + 1e-3:
        raise ValueError(f"Images must be in [0, 1] (got [{float(images.min()):.2f}, {float(images.max()):.2f}]); "
                         "convert tanh outputs with helpers.data.from_pm1.")
    classifier.eval()
    with torch.no_grad():
        probs = torch.cat([F.softmax(classifier(images[i:i + batch_size].cpu()).float(), 1)
                           for i in range(0, len(images), batch_size)])
    return coverage_from_probs(probs, threshold, min_share)
