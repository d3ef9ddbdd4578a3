"""helpers.gan_training on hand-made networks whose losses and gradients are known in closed form: a flipped
label or sign, a dropped term or a wrong weight changes a number these tests compute independently."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.digit_scores import coverage_from_probs
from helpers.gan_training import gan_step, progan_step, sample_images, sample_stage, train_gan, train_stage
from helpers.models.progan import stage_reals

S = 4  # image side of the hand-made networks


class ConstGenerator(nn.Module):
    """Every image is the constant ``w`` (one parameter): ``(B, z_dim)`` -> ``(B, 1, S, S)``."""

    def __init__(self, w: float, z_dim: int = 2):
        super().__init__()
        self.z_dim = z_dim
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, z):
        return self.w * torch.ones(z.shape[0], 1, S, S)


class MeanDiscriminator(nn.Module):
    """Logit ``a * mean(x) + b`` per image; counts its calls."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(a)), nn.Parameter(torch.tensor(b))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.a * x.mean((1, 2, 3)) + self.b


def _sgd(*nets, lr=0.1):
    return [torch.optim.SGD(n.parameters(), lr=lr) for n in nets]


def _bce(logit: float, target: float) -> float:
    s = 1 / (1 + math.exp(-logit))
    return -(target * math.log(s) + (1 - target) * math.log(1 - s))


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# --------------------------------------------------------------------------- notebook 05: gan_step
V, W, A, B, LR = 0.8, -0.5, 1.5, 0.2, 0.1  # real images = V, fakes = W, D's logit = A * mean + B


@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_discriminator_loss_uses_real_label_for_real_and_zero_for_fake(real_label):
    G, D = ConstGenerator(W), MeanDiscriminator(A, B)
    opt_g, opt_d = _sgd(G, D, lr=LR)
    real = torch.full((5, 1, S, S), V)
    out = gan_step(G, D, real, opt_g, opt_d, batch_size=8, real_label=real_label)
    l_real, l_fake = A * V + B, A * W + B
    assert float(out["loss_d"]) == pytest.approx(_bce(l_real, real_label) + _bce(l_fake, 0.0), rel=1e-5)
    # D's update: gradient of the BCE terms with respect to a and b, one SGD step
    g_real, g_fake = _sig(l_real) - real_label, _sig(l_fake)
    assert float(D.a.detach()) == pytest.approx(A - LR * (g_real * V + g_fake * W), rel=1e-5)
    assert float(D.b.detach()) == pytest.approx(B - LR * (g_real + g_fake), rel=1e-5)
    assert float(out["p_real"]) == pytest.approx(_sig(l_real), rel=1e-5)


@pytest.mark.parametrize("g_loss", ["non_saturating", "saturating"])
def test_generator_gradient_is_the_documented_one(g_loss):
    """non-saturating: dL/dlogit = -(1 - σ); saturating: -σ; both judged by the *updated* D, both push the
    fake towards "real" (here: w rises, since a > 0)."""
    G, D = ConstGenerator(W), MeanDiscriminator(A, B)
    opt_g, opt_d = _sgd(G, D, lr=LR)
    out = gan_step(G, D, torch.full((5, 1, S, S), V), opt_g, opt_d, batch_size=8, g_loss=g_loss)
    a, b = float(D.a.detach()), float(D.b.detach())  # D after its step (the G step does not change it)
    s = _sig(a * W + b)
    dl_dlogit = -(1 - s) if g_loss == "non_saturating" else -s
    expected_loss = -math.log(s) if g_loss == "non_saturating" else math.log(1 - s)
    assert float(out["loss_g"]) == pytest.approx(expected_loss, rel=1e-5)
    assert float(out["grad_g"]) == pytest.approx(abs(dl_dlogit * a), rel=1e-5)
    assert float(G.w.detach()) == pytest.approx(W - LR * dl_dlogit * a, rel=1e-5)
    assert float(G.w.detach()) > W
    assert float(out["p_fake"]) == pytest.approx(s, rel=1e-5)


def test_saturating_gradient_vanishes_against_a_confident_discriminator():
    grads = {}
    for g_loss in ("non_saturating", "saturating"):
        G, D = ConstGenerator(W), MeanDiscriminator(20.0, -5.0)  # σ(D(fake)) ≈ 2e-7
        opt_g, opt_d = _sgd(G, D, lr=0.0)
        grads[g_loss] = float(gan_step(G, D, torch.full((5, 1, S, S), V), opt_g, opt_d, g_loss=g_loss)["grad_g"])
    s = _sig(20.0 * W - 5.0)
    assert grads["non_saturating"] / grads["saturating"] == pytest.approx((1 - s) / s, rel=1e-3)


def test_discriminator_is_frozen_during_the_generator_step():
    """After the step D's gradients are those of its own loss only (the G step added nothing) and D can
    train again (requires_grad restored)."""
    G, D = ConstGenerator(W), MeanDiscriminator(A, B)
    opt_g, opt_d = _sgd(G, D, lr=LR)
    gan_step(G, D, torch.full((5, 1, S, S), V), opt_g, opt_d, batch_size=8)
    g_real, g_fake = _sig(A * V + B) - 1.0, _sig(A * W + B)
    assert float(D.a.grad) == pytest.approx(g_real * V + g_fake * W, rel=1e-5)
    assert float(D.b.grad) == pytest.approx(g_real + g_fake, rel=1e-5)
    assert all(p.requires_grad for p in D.parameters())
    assert D.calls == 3  # real, fake (D step), fake (G step)


def test_augment_sees_real_and_generated_batches_and_d_steps_repeat():
    seen = []

    def spy(x):
        seen.append(float(x.detach().mean()))
        return x

    G, D = ConstGenerator(W), MeanDiscriminator(A, B)
    opt_g, opt_d = _sgd(G, D, lr=0.0)
    gan_step(G, D, torch.full((5, 1, S, S), V), opt_g, opt_d, batch_size=4, d_steps=2, augment=spy)
    assert seen == pytest.approx([V, W, V, W, W])
    assert D.calls == 5


@pytest.mark.parametrize("margin, updated", [(-1e-3, True), (1e-3, False)])
def test_discriminator_update_is_skipped_while_its_loss_is_below_the_threshold(margin, updated):
    """Course doc 002's remedy: D's loss (computed independently) just above / below the threshold decides
    whether D moves; G's update happens either way, against the (un)updated D."""
    loss_d = _bce(A * V + B, 1.0) + _bce(A * W + B, 0.0)
    G, D = ConstGenerator(W), MeanDiscriminator(A, B)
    opt_g, opt_d = _sgd(G, D, lr=LR)
    terms = gan_step(G, D, torch.full((5, 1, S, S), V), opt_g, opt_d, batch_size=8, d_skip_below=loss_d + margin)
    assert float(terms["loss_d"]) == pytest.approx(loss_d, rel=1e-5)
    assert float(terms["d_updates"]) == float(updated)
    g_real, g_fake = _sig(A * V + B) - 1.0, _sig(A * W + B)
    a_new = A - LR * (g_real * V + g_fake * W) if updated else A
    b_new = B - LR * (g_real + g_fake) if updated else B
    assert float(D.a) == pytest.approx(a_new, rel=1e-5) and float(D.b) == pytest.approx(b_new, rel=1e-5)
    # non-saturating G step against the D it now faces: dL/dw = -(1 - σ(a w + b)) * a
    assert float(G.w) == pytest.approx(W + LR * (1 - _sig(a_new * W + b_new)) * a_new, rel=1e-5)


def test_skipped_discriminator_updates_are_counted_per_d_step():
    G, D = ConstGenerator(W), MeanDiscriminator(A, B)
    terms = gan_step(G, D, torch.full((5, 1, S, S), V), *_sgd(G, D, lr=0.0), batch_size=4, d_steps=3,
                     d_skip_below=None)
    assert float(terms["d_updates"]) == 3.0
    terms = gan_step(G, D, torch.full((5, 1, S, S), V), *_sgd(G, D, lr=0.0), batch_size=4, d_steps=3,
                     d_skip_below=100.0)
    assert float(terms["d_updates"]) == 0.0


def test_unknown_generator_loss_is_refused():
    G, D = ConstGenerator(W), MeanDiscriminator(A, B)
    with pytest.raises(ValueError, match="g_loss"):
        gan_step(G, D, torch.zeros(2, 1, S, S), *_sgd(G, D), g_loss="minimax")


# --------------------------------------------------------------------------- notebook 05: train_gan
def _score(G):
    imgs = sample_images(G, 20)
    return coverage_from_probs(F.one_hot(torch.zeros(len(imgs), dtype=torch.long), 10).float())


def test_train_gan_scores_snapshots_and_continues():
    G, D = ConstGenerator(W), MeanDiscriminator(0.1, 0.0)
    res = train_gan(G, D, torch.full((8, 1, S, S), V), 10, batch_size=4, score=_score, eval_every=4,
                    fixed_z=torch.zeros(16, 5))
    assert res.step == 10 and res.stopped is None
    assert sorted(res.snaps) == [1, 4, 8, 10]
    assert res.snaps[10].shape == (16, 1, S, S) and res.snaps[10].min() >= 0
    assert res.hist.series("covered")[0] == [1.0, 4.0, 8.0, 10.0]
    assert res.hist.series("loss_d")[0] == [5.0, 10.0]
    res = train_gan(G, D, torch.full((8, 1, S, S), V), 3, batch_size=4, state=res)
    assert res.step == 13


def test_train_gan_stops_when_the_discriminator_has_won():
    G, D = ConstGenerator(W), MeanDiscriminator(50.0, -20.0)  # σ(D(G(z))) ~ 1e-20
    res = train_gan(G, D, torch.full((8, 1, S, S), V), 50, lr_g=0.0, lr_d=0.0, batch_size=4, win_patience=7)
    assert res.step == 7 and "discriminator has won" in res.stopped
    res = train_gan(G, D, torch.full((8, 1, S, S), V), 20, lr_g=0.0, lr_d=0.0, batch_size=4, win_patience=None)
    assert res.step == 20 and res.stopped is None


def test_train_gan_passes_the_skip_threshold_on():
    G, D = ConstGenerator(W), MeanDiscriminator(A, B)
    train_gan(G, D, torch.full((8, 1, S, S), V), 5, lr_d=0.1, batch_size=4, d_skip_below=100.0)
    assert (float(D.a), float(D.b)) == pytest.approx((A, B), abs=1e-7)


def test_train_gan_sgd_steps_by_the_gradient_and_adam_by_the_rate():
    """One non-saturating G step against a frozen D: SGD moves w by lr × the gradient, Adam's first step by lr
    (m / √v = the gradient's sign), however small the gradient (notebook 05's head-start regime)."""
    grad = float(-(1 - torch.sigmoid(torch.tensor(A * W + B))) * A)  # d(-log σ(A w + B)) / dw
    for g_optimizer, step in (("sgd", -LR * grad), ("adam", LR)):
        G = ConstGenerator(W)
        train_gan(G, MeanDiscriminator(A, B), torch.full((8, 1, S, S), V), 1, lr_g=LR, lr_d=0.0, batch_size=4,
                  g_optimizer=g_optimizer)
        assert float(G.w) - W == pytest.approx(step, rel=1e-4), g_optimizer
    with pytest.raises(ValueError, match="'adam' or 'sgd'"):
        train_gan(ConstGenerator(W), MeanDiscriminator(A, B), torch.full((8, 1, S, S), V), 1, g_optimizer="rmsprop")


# --------------------------------------------------------------------------- notebook 10: progan_step
class StageGenerator(nn.Module):
    """Constant images ``w`` at the stage's size; records the alphas it is called with."""

    code_dim = 3

    def __init__(self, w: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.alphas = []

    def forward(self, z, expand, alpha=-1):
        self.alphas.append(alpha)
        size = 4 * 2**expand
        return self.w * torch.ones(z.shape[0], 1, size, size)


class SumCritic(nn.Module):
    """Score ``c * sum(x)``: its input gradient is ``c`` everywhere, norm ``|c| * size``; records inputs."""

    def __init__(self, c: float):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))
        self.calls = []

    def forward(self, x, expand, alpha=-1):
        self.calls.append((x.detach().clone(), alpha))
        return self.c * x.flatten(1).sum(1)


C, GW, RV, LAM, EPS = 0.4, -0.3, 0.6, 10.0, 1e-3


def test_critic_loss_has_wasserstein_gradient_penalty_and_drift_terms():
    G, D = StageGenerator(GW), SumCritic(C)
    opt_g, opt_d = _sgd(G, D, lr=0.0)
    real = torch.full((6, 1, 8, 8), RV)
    out = progan_step(G, D, real, 1, 1.0, opt_g, opt_d, batch_size=4, lam=LAM, eps_drift=EPS)
    n = 8 * 8
    d_real, d_fake, gp = C * RV * n, C * GW * n, (abs(C) * 8 - 1) ** 2
    assert float(out["w_dist"]) == pytest.approx(d_real - d_fake, rel=1e-5)
    assert float(out["gp"]) == pytest.approx(gp, rel=1e-5)
    assert float(out["loss_d"]) == pytest.approx(-(d_real - d_fake) + LAM * gp + EPS * d_real**2, rel=1e-5)
    assert float(out["loss_g"]) == pytest.approx(-d_fake, rel=1e-5)


@pytest.mark.parametrize("lam,eps_drift", [(10.0, 1e-3), (1.0, 0.0), (0.0, 0.1)])
def test_critic_update_follows_its_loss(lam, eps_drift):
    """dL_D/dc = -(sum real - sum fake) + lam * 2 (|c| 8 - 1) * 8 * sign(c) + eps * 2 c (sum real)^2."""
    G, D = StageGenerator(GW), SumCritic(C)
    opt_g, opt_d = _sgd(G, D, lr=1e-3)
    progan_step(G, D, torch.full((6, 1, 8, 8), RV), 1, 1.0, opt_g, opt_d, batch_size=4, lam=lam,
                eps_drift=eps_drift)
    n = 64
    grad = -(RV * n - GW * n) + lam * 2 * (abs(C) * 8 - 1) * 8 + eps_drift * 2 * C * (RV * n) ** 2
    assert float(D.c.detach()) == pytest.approx(C - 1e-3 * grad, rel=1e-5)
    assert float(D.c.grad) == pytest.approx(grad, rel=1e-5)  # the generator step added nothing: D was frozen
    assert all(p.requires_grad for p in D.parameters())


def test_generator_step_raises_the_critics_score():
    """L_G = -E[c * sum(G)] = -c * 64 * w: dL/dw = -64 c, judged by the updated critic."""
    G, D = StageGenerator(GW), SumCritic(C)
    opt_g, opt_d = _sgd(G, D, lr=1e-3)
    progan_step(G, D, torch.full((6, 1, 8, 8), RV), 1, 1.0, opt_g, opt_d, batch_size=4)
    assert float(G.w.detach()) == pytest.approx(GW + 1e-3 * 64 * float(D.c.detach()), rel=1e-5)
    assert float(G.w.detach()) > GW


def test_fade_in_alpha_reaches_both_networks_and_the_reals():
    G, D = StageGenerator(GW), SumCritic(C)
    real = torch.rand(1, 1, 8, 8)  # one image: every batch is made of it
    st = train_stage(G, D, real, 1, 4, 2, batch_size=2, lr=0.0)
    assert st.step == 6
    assert G.alphas == [0.0, 0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0, 1.0, 1.0]  # D step, G step
    critic_alphas = [a for _, a in D.calls]
    assert set(critic_alphas[:4]) == {0.0} and set(critic_alphas[-4:]) == {1.0}
    first_real = D.calls[0][0]
    assert torch.allclose(first_real, stage_reals(real, 1, 0.0).expand(2, -1, -1, -1))
    assert not torch.allclose(first_real, real.expand(2, -1, -1, -1))  # alpha 0: the coarse version
    assert st.hist.series("alpha")[1] == [0.0, 1.0]  # logged at steps 1 and 5


def test_stage_zero_has_no_fade_and_scores_are_logged():
    G, D = StageGenerator(GW), SumCritic(C)
    st = train_stage(G, D, torch.rand(3, 1, 8, 8), 0, 0, 4, batch_size=2, lr=0.0, eval_every=2,
                     score=lambda g, e, a: _score_stage(g, e, a))
    assert set(G.alphas) == {1.0}
    assert st.hist.series("covered")[0] == [2.0, 4.0]
    assert D.calls[0][0].shape == (2, 1, 4, 4)


def test_the_end_of_the_fade_is_scored_with_the_new_block_alone():
    G, D = StageGenerator(GW), SumCritic(C)
    alphas = []

    def score(g, e, a):
        alphas.append(a)
        return _score_stage(g, e, a)

    st = train_stage(G, D, torch.rand(1, 1, 8, 8), 1, 4, 2, batch_size=2, lr=0.0, eval_every=3, score=score)
    assert alphas == [0.75, 1.0, 1.0]  # after step 3 (the alpha of step 4), after step 4 (fade over), after step 6
    assert st.hist.series("covered")[0] == [3.0, 4.0, 6.0]
    assert list(st.faded) == [1] and st.faded[1].n == 10
    st0 = train_stage(G, D, torch.rand(1, 1, 8, 8), 0, 0, 2, batch_size=2, lr=0.0, score=score)
    assert st0.faded == {}  # nothing fades in at stage 0


def _score_stage(G, expand, alpha):
    imgs = sample_stage(G, 10, expand, alpha)
    assert imgs.min() >= 0 and imgs.max() <= 1
    return coverage_from_probs(torch.full((len(imgs), 10), 0.1))


# --------------------------------------------------------------------------- the documented defaults
def test_the_training_defaults_are_the_papers_and_notebooks_constants():
    """Adam 2e-4 and batch 64 (DCGAN, Radford et al. 2016, notebook 05); λ = 10 (WGAN-GP), ε_drift = 1e-3, lr 1e-3
    and batch 32 (ProGAN, Karras et al. 2018, notebook 10); a full-length 16-image preview; plain BCE labels."""
    import inspect

    def defaults(fn):
        return {k: p.default for k, p in inspect.signature(fn).parameters.items()
                if p.default is not inspect.Parameter.empty}

    from helpers import gan_training as T

    assert defaults(T.sample_images) == {"n": 16, "z": None}
    assert defaults(T.sample_stage) == {"alpha": -1, "z": None}
    assert defaults(T.gan_step) == {"batch_size": 64, "d_steps": 1, "real_label": 1.0, "g_loss": "non_saturating",
                                    "augment": None, "d_skip_below": None}
    assert defaults(T.train_gan) == {"lr_g": 2e-4, "lr_d": 2e-4, "d_steps": 1, "real_label": 1.0,
                                     "g_loss": "non_saturating", "batch_size": 64, "augment": None,
                                     "d_skip_below": None, "score": None, "eval_every": 0, "fixed_z": None,
                                     "name": "GAN", "state": None, "win_patience": 100, "g_optimizer": "adam"}
    assert defaults(T.progan_step) == {"batch_size": 32, "lam": 10.0, "eps_drift": 1e-3}
    assert defaults(T.train_stage) == {"lam": 10.0, "eps_drift": 1e-3, "lr": 1e-3, "batch_size": 32, "score": None,
                                       "eval_every": 0, "state": None, "name": None}
