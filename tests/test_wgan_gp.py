"""Course doc 000's WGAN-GP training (helpers.wgan_gp, notebook 04) and the gradient penalty it uses, on tiny
tensors and hand-made critics whose values can be computed by hand: a flipped sign or a dropped term fails."""
import itertools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.losses import gradient_penalty, tv_loss
from helpers.wgan_gp import CriticLoss, GeneratorLoss, UpscaleTrainer


class SumOfSquares(nn.Module):
    """D(x) = w * sum(x^2) per sample, (B, 1): its input gradient 2 w x depends on where x lies."""

    def __init__(self, w: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return self.w * x.pow(2).flatten(1).sum(1, keepdim=True)


class MeanScore(nn.Module):
    """D(x) = c * mean(x) per sample, (B, 1)."""

    def __init__(self, c: float):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x):
        return self.c * x.flatten(1).mean(1, keepdim=True)


class L1(nn.Module):
    """Stands in for the perceptual loss."""

    def forward(self, output, target):
        return F.l1_loss(output.float(), target.float())


def _by_hand_norms(w: float, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """||grad D(x_hat)||_2 = 2 |w| ||x_hat||_2 for the sum-of-squares critic, x_hat = eps real + (1 - eps) fake."""
    x_hat = eps * real + (1 - eps) * fake
    return 2 * abs(w) * x_hat.flatten(1).norm(dim=1)


def test_gradient_penalty_is_taken_at_the_interpolates():
    # A linear critic has the same gradient everywhere, so only a non-linear one tells where x_hat lies.
    real = torch.rand(4, 3, 4, 4) * 0.5 + 0.5  # in [0.5, 1]
    fake = torch.rand(4, 3, 4, 4) * 0.3  # in [0, 0.3]
    w = 0.15
    eps = torch.rand((4, 1, 1, 1), generator=torch.Generator().manual_seed(7))
    norms = _by_hand_norms(w, real, fake, eps)
    gp, got_norms = gradient_penalty(SumOfSquares(w), real, fake, torch.Generator().manual_seed(7))
    assert torch.allclose(got_norms, norms, rtol=1e-5)
    assert float(gp.detach()) == pytest.approx(float((norms - 1).pow(2).mean()), rel=1e-5)
    # the same numbers at the wrong places (swapped ends, eps only, eps real + fake) would all differ:
    for wrong in (_by_hand_norms(w, fake, real, eps), _by_hand_norms(w, real, torch.zeros_like(fake), eps),
                  2 * w * (eps * real + fake).flatten(1).norm(dim=1)):
        assert not torch.allclose(got_norms, wrong, rtol=1e-3)


def test_critic_loss_is_wasserstein_plus_weighted_penalty():
    real = torch.rand(3, 3, 4, 4) * 0.5 + 0.5
    fake = 0.5 * real.flip(0)
    w, gp_weight = 0.1, 3.0
    critic = SumOfSquares(w)
    torch.manual_seed(11)
    eps = torch.rand((3, 1, 1, 1))
    norms = _by_hand_norms(w, real, fake, eps)
    with torch.no_grad():
        wasserstein = critic(fake).mean() - critic(real).mean()  # mean D(fake) - mean D(real)
    penalty = (norms - 1).pow(2).mean()
    assert abs(float(wasserstein)) > 0.1 and float(penalty) > 0.01  # both terms matter below
    torch.manual_seed(11)
    loss, norm_mean, w_part = (t.detach() for t in CriticLoss(critic, gp_weight=gp_weight)(real, fake))
    assert float(w_part) == pytest.approx(float(wasserstein), rel=1e-5)
    assert float(norm_mean) == pytest.approx(float(norms.mean()), rel=1e-5)
    assert float(loss) == pytest.approx(float(wasserstein + gp_weight * penalty), rel=1e-5)
    torch.manual_seed(11)
    loss10 = CriticLoss(critic)(real, fake)[0].detach()  # the paper's lambda = 10 by default
    assert float(loss10) == pytest.approx(float(wasserstein + 10 * penalty), rel=1e-5)


@torch.no_grad()
def test_generator_loss_subtracts_the_ramped_critic_score():
    output = torch.rand(2, 3, 8, 8)
    target = torch.rand(2, 3, 8, 8)
    critic = MeanScore(4.0)
    loss = GeneratorLoss(critic, L1(), perceptual_weight=0.7, tv_weight=0.3, adv_weight=0.05, ramp_epochs=4)
    content = 0.7 * F.l1_loss(output, target) + 0.3 * tv_loss(output)
    adversarial = 0.05 * critic(output).mean()
    for epoch, lam in ((0, 0.0), (1, 0.25), (2, 0.5), (4, 1.0), (9, 1.0)):
        total, got_content, got_adv = loss(output, target, epoch)
        assert float(got_content) == pytest.approx(float(content), rel=1e-5)
        assert float(got_adv) == pytest.approx(float(adversarial), rel=1e-5)
        assert float(total) == pytest.approx(float(content - lam * adversarial), rel=1e-5), epoch


def test_generator_loss_defaults_are_the_course_weights():
    loss = GeneratorLoss(MeanScore(1.0), L1())
    assert (loss.perceptual_weight, loss.tv_weight, loss.adv_weight, loss.ramp_epochs) == (1.0, 0.1, 0.01, 5.0)


def _tiny_trainer(n_critic: int, lr: float = 1e-2, **g_loss_kwargs) -> UpscaleTrainer:
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(3, 3, 3, padding=1))
    critic = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.01), nn.AdaptiveAvgPool2d(1),
                           nn.Flatten(), nn.Linear(4, 1, bias=False))
    gen = torch.Generator().manual_seed(1)
    crops = ((torch.rand(2, 3, 4, 4, generator=gen), torch.rand(2, 3, 8, 8, generator=gen))
             for _ in itertools.count())
    return UpscaleTrainer(generator, critic, GeneratorLoss(critic, L1(), **g_loss_kwargs), CriticLoss(critic),
                          crops, lr=lr, n_critic=n_critic)


def _count_steps(trainer: UpscaleTrainer) -> list[str]:
    calls = []
    for name, opt in (("critic", trainer.opt_c), ("generator", trainer.opt_g)):
        def step(*args, _step=opt.step, _name=name, **kwargs):
            calls.append(_name)
            return _step(*args, **kwargs)
        opt.step = step
    return calls


def test_trainer_alternates_n_critic_critic_steps_per_generator_step():
    trainer = _tiny_trainer(n_critic=3)
    calls = _count_steps(trainer)
    trainer.epoch(0, 4, adversarial=False)  # warm-up: the generator alone
    assert calls == ["generator"] * 4
    calls.clear()
    trainer.epoch(1, 2)  # first adversarial epoch: both every step
    assert calls == ["critic", "generator"] * 2
    calls.clear()
    trainer.step = 0
    trainer.epoch(2, 9)  # then n_critic critic steps per generator step
    assert calls == (["critic"] * 3 + ["generator"]) * 3
    assert trainer.step == 9 and len(trainer.history.records) == 4 + 2 + 9
    assert sum("critic_loss" in r for r in trainer.history.records) == 2 + 9


def _params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_each_step_changes_only_its_own_network():
    trainer = _tiny_trainer(n_critic=1)
    lr, hr = next(trainer.crops)
    trainer.train_generator(lr, hr, 1)  # leaves gradients and Adam state in the generator
    trainer.train_critic(lr, hr)  # ... and in the critic
    g0, c0 = _params(trainer.g), _params(trainer.c)
    trainer.train_critic(lr, hr)
    assert _same(_params(trainer.g), g0), "a critic step changed the generator"
    assert not _same(_params(trainer.c), c0), "a critic step left the critic unchanged"
    g1, c1 = _params(trainer.g), _params(trainer.c)
    trainer.train_generator(lr, hr, 1)
    assert _same(_params(trainer.c), c1), "a generator step changed the critic"
    assert not _same(_params(trainer.g), g1), "a generator step left the generator unchanged"


def test_generator_step_raises_the_critic_score():
    # adversarial term alone: the generator must move towards what the critic scores as real
    trainer = _tiny_trainer(n_critic=1, perceptual_weight=0.0, tv_weight=0.0, adv_weight=1.0)
    lr, hr = next(trainer.crops)
    with torch.no_grad():
        before = float(trainer.c(trainer.g(lr)).mean())
    for _ in range(3):
        trainer.train_generator(lr, hr, 5)
    with torch.no_grad():
        after = float(trainer.c(trainer.g(lr)).mean())
    assert after > before


def test_critic_step_separates_real_from_fake():
    # Wasserstein term: after critic steps the critic scores real HR above the generator's output
    trainer = _tiny_trainer(n_critic=1)
    trainer.c_loss.gp_weight = 0.0
    lr, hr = next(trainer.crops)
    with torch.no_grad():
        gap0 = float(trainer.c(hr).mean() - trainer.c(trainer.g(lr)).mean())
    for _ in range(3):
        logs = trainer.train_critic(lr, hr)
    with torch.no_grad():
        gap = float(trainer.c(hr).mean() - trainer.c(trainer.g(lr)).mean())
    assert gap > gap0 and float(logs["wasserstein"].detach()) < 0


def test_trainer_gives_the_critic_its_own_learning_rate():
    trainer = _tiny_trainer(n_critic=1, lr=1e-3)
    assert [g["lr"] for g in trainer.opt_g.param_groups] == [1e-3]
    assert [g["lr"] for g in trainer.opt_c.param_groups] == [1e-3]  # default: the generator's
    crops = iter([(torch.rand(2, 3, 4, 4), torch.rand(2, 3, 8, 8))])
    two = UpscaleTrainer(trainer.g, trainer.c, trainer.g_loss, trainer.c_loss, crops, lr=1e-3, critic_lr=4e-3)
    assert [g["lr"] for g in two.opt_g.param_groups] == [1e-3]
    assert [g["lr"] for g in two.opt_c.param_groups] == [4e-3]


def test_icnr_starts_the_subpixel_convolution_as_nearest_neighbour_upsampling():
    from helpers.models.upscalers import icnr_

    scale, conv = 3, nn.Conv2d(5, 2 * 9, 3, padding=1)
    torch.manual_seed(0)
    assert icnr_(conv.weight, scale) is conv.weight
    nn.init.zeros_(conv.bias)
    x = torch.rand(2, 5, 6, 7)
    y = nn.PixelShuffle(scale)(conv(x))
    nearest = F.interpolate(y[..., ::scale, ::scale], scale_factor=scale, mode="nearest")
    assert torch.allclose(y, nearest, atol=1e-6)  # every scale x scale block is constant: no checkerboard
    assert not torch.allclose(conv.weight[0], conv.weight[9])  # the two output channels have their own kernels
    assert float(conv.weight.std()) > 0.01  # a real initialisation, not zeros
    with pytest.raises(ValueError, match="multiple of scale"):
        icnr_(nn.Conv2d(5, 10, 3).weight, scale)
