import pytest
import torch
import torch.nn as nn

from helpers import losses
from helpers.features import VGGFeatures, load_vgg_weights


def test_tv_loss_of_known_images():
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 3, 4)  # horizontal step 1, vertical 0
    assert float(losses.tv_loss(ramp)) == pytest.approx(1.0)
    assert float(losses.tv_loss(ramp.transpose(-1, -2))) == pytest.approx(1.0)
    checker = ((torch.arange(4)[:, None] + torch.arange(4)[None]) % 2).float().view(1, 1, 4, 4)
    assert float(losses.tv_loss(checker)) == pytest.approx(2.0)
    assert float(losses.tv_loss(torch.ones(1, 3, 5, 5))) == 0.0


@pytest.fixture(scope="module")
def vgg():
    return VGGFeatures(("relu2_2", "relu3_3"), source="hed")


def test_perceptual_loss_defaults_to_the_course(vgg):
    loss = losses.VGGPerceptualLoss(vgg=vgg)
    assert loss.layer_weights == {"relu3_3": 1.0} and loss.distance is torch.nn.functional.l1_loss
    assert loss.vgg is vgg and loss.resize is None


def test_perceptual_loss_values_and_gradients(vgg):
    loss = losses.VGGPerceptualLoss({"relu2_2": 0.5, "relu3_3": 1.0}, vgg=vgg)
    x = torch.rand(2, 3, 32, 32)
    assert float(loss(x, x)) == 0.0
    out = x.clone().requires_grad_(True)
    value = loss(out + 0.05, x)
    value.backward()
    assert value > 0 and out.grad.abs().sum() > 0
    f_out, f_tgt = vgg(x + 0.05), vgg(x)
    expected = 0.5 * (f_out["relu2_2"] - f_tgt["relu2_2"]).abs().mean() + \
        (f_out["relu3_3"] - f_tgt["relu3_3"]).abs().mean()
    assert float(value) == pytest.approx(float(expected), rel=1e-4)
    mse = losses.VGGPerceptualLoss({"relu3_3": 1.0}, criterion="mse", vgg=vgg)
    assert float(mse(x + 0.05, x)) == pytest.approx(float((f_out["relu3_3"] - f_tgt["relu3_3"]).pow(2).mean()),
                                                     rel=1e-4)


def test_perceptual_loss_zero_weight_and_resize(vgg):
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    only22 = losses.VGGPerceptualLoss({"relu2_2": 1.0, "relu3_3": 0.0}, vgg=vgg)
    f = vgg(x), vgg(y)
    assert float(only22(x, y)) == pytest.approx(float((f[0]["relu2_2"] - f[1]["relu2_2"]).abs().mean()), rel=1e-4)
    resized = losses.VGGPerceptualLoss({"relu3_3": 1.0}, vgg=vgg, resize=64)
    up = [torch.nn.functional.interpolate(t, size=(64, 64), mode="bilinear", align_corners=False) for t in (x, y)]
    fu = vgg(up[0]), vgg(up[1])
    assert float(resized(x, y)) == pytest.approx(float((fu[0]["relu3_3"] - fu[1]["relu3_3"]).abs().mean()), rel=1e-4)


def test_gan_loss_modes_on_known_logits():
    p = torch.tensor([0.0, 2.0])
    bce = losses.GANLoss("vanilla")
    assert float(bce(p, True)) == pytest.approx(float(torch.nn.functional.softplus(-p).mean()))
    assert float(bce(p, False)) == pytest.approx(float(torch.nn.functional.softplus(p).mean()))
    smooth = losses.GANLoss("vanilla", real_label=0.9)
    assert float(smooth(p, True)) != pytest.approx(float(bce(p, True)))
    ls = losses.GANLoss("lsgan")
    assert float(ls(p, True)) == pytest.approx((1 + 1) / 2)
    assert float(ls(p, False)) == pytest.approx((0 + 4) / 2)
    w = losses.GANLoss("wgan")
    assert float(w(p, True)) == -1.0 and float(w(p, False)) == 1.0
    h = losses.GANLoss("hinge")
    assert float(h(p, True)) == pytest.approx((1 + 0) / 2)
    assert float(h(p, False)) == pytest.approx((1 + 3) / 2)
    assert float(h(p, True, for_discriminator=False)) == -1.0
    with pytest.raises(ValueError):
        losses.GANLoss("bce")


class Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.full((1, 3, 4, 4), 0.5)  # ||w|| = 0.5 * sqrt(48)
    real, fake = torch.rand(3, 3, 4, 4), torch.rand(3, 3, 4, 4)
    gp, norms = losses.gradient_penalty(Linear(w), real, fake)
    norm = 0.5 * 48**0.5
    assert torch.allclose(norms, torch.full((3,), norm), atol=1e-5)
    assert float(gp) == pytest.approx((norm - 1) ** 2, rel=1e-5)
    unit = w / w.norm()
    gp1, _ = losses.gradient_penalty(Linear(unit), real, fake)
    assert float(gp1) == pytest.approx(0.0, abs=1e-8)


def test_gradient_penalty_samples_interpolates_between_real_and_fake():
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(x.detach().clone())
            return x.flatten(1).sum(1)
    real, fake = torch.ones(64, 1, 1, 1), torch.zeros(64, 1, 1, 1)
    gp, _ = losses.gradient_penalty(Spy(), real, fake, torch.Generator().manual_seed(0))
    eps = seen[0].flatten()
    assert eps.min() >= 0 and eps.max() <= 1 and eps.std() > 0.2  # eps ~ U[0, 1], one per sample
    fake_grad = torch.zeros(2, 1, 2, 2, requires_grad=True)
    w = nn.Parameter(torch.ones(1))
    gp, _ = losses.gradient_penalty(lambda x: (x * w).flatten(1).sum(1), torch.ones(2, 1, 2, 2), fake_grad)
    gp.backward()
    assert w.grad is not None and fake_grad.grad is None  # penalty trains the critic only


class Quadratic(nn.Module):
    """``D(x) = sum(x^2) / 2`` per sample: a nonlinear critic whose gradient is ``x`` itself, so the penalty
    sees where the interpolate lies (a linear critic has the same gradient everywhere)."""

    def forward(self, x):
        return x.pow(2).flatten(1).sum(1) / 2


def test_gradient_penalty_is_taken_at_eps_real_plus_one_minus_eps_fake():
    real, fake = torch.rand(4, 3, 5, 5), -torch.rand(4, 3, 5, 5)
    gp, norms = losses.gradient_penalty(Quadratic(), real, fake, torch.Generator().manual_seed(3))
    eps = torch.rand((4, 1, 1, 1), generator=torch.Generator().manual_seed(3))
    expected = (eps * real + (1 - eps) * fake).flatten(1).norm(dim=1)  # |grad D(x_hat)| = |x_hat|
    assert torch.allclose(norms, expected, rtol=1e-5)
    assert float(gp) == pytest.approx(float(((expected - 1) ** 2).mean()), rel=1e-5)
    assert not norms.requires_grad


def test_gan_loss_labels_and_hinge_generator():
    p = torch.tensor([0.0, 2.0])
    soft = losses.GANLoss("lsgan", real_label=0.9, fake_label=0.1)
    assert float(soft(p, True)) == pytest.approx((0.81 + 1.21) / 2)
    assert float(soft(p, False)) == pytest.approx((0.01 + 3.61) / 2)
    assert float(losses.GANLoss("hinge")(torch.tensor([-3.0, 0.5]), False, for_discriminator=False)) == 1.25
    assert float(losses.GANLoss("wgan")(p, True, for_discriminator=False)) == -1.0
    with pytest.raises(ValueError, match="^Unknown GAN mode 'bce': use one of vanilla, lsgan, wgan, hinge.$"):
        losses.GANLoss("bce")
    default = losses.GANLoss()
    assert default.mode == "vanilla" and (default.real_label, default.fake_label) == (1.0, 0.0)
    half = torch.tensor([0.0, 2.0], dtype=torch.bfloat16)
    assert losses.GANLoss("lsgan")(half, True).dtype == torch.float32


def test_srloss_terms_weights_and_log():
    sr, hr = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    hr[..., 0, :] = 0.5  # MSE 0.0625, L1 0.125; TV of hr 0.5 * 4 / 12
    perc = lambda a, b: (a - b).abs().sum()  # noqa: E731   12 * 0.5 = 6
    loss = losses.SRLoss(pixel=2.0, perceptual=0.5, tv=3.0, pixel_kind="l1", perceptual_loss=perc)
    assert loss.terms == {}  # nothing logged before the first call
    total = float(loss(hr, sr))
    assert loss.terms == pytest.approx({"l1": 0.125, "perceptual": 6.0, "tv": 0.5 * 4 / 12})
    assert total == pytest.approx(2 * 0.125 + 0.5 * 6 + 3 * 0.5 * 4 / 12)
    only_tv = losses.SRLoss(pixel=0.0, tv=1.0)
    assert float(only_tv(hr, sr)) == pytest.approx(0.5 * 4 / 12) and set(only_tv.terms) == {"tv"}
    mse = losses.SRLoss()
    assert float(mse(sr, hr)) == pytest.approx(0.0625) and mse.terms == pytest.approx({"mse": 0.0625})
    assert mse(sr.bfloat16(), hr.bfloat16()).dtype == torch.float32
    assert losses.SRLoss(pixel=1.0, perceptual=0.0, perceptual_loss=None).pixel_kind == "mse"


@pytest.mark.parametrize("kwargs, message", [
    ({"pixel_kind": "l2"}, "^Unknown pixel loss 'l2': use 'mse' or 'l1'.$"),
    ({"pixel": -1.0}, r"^Loss weights must be >= 0, got pixel=-1.0, perceptual=0.0, tv=0.0.$"),
    ({"pixel": 1.0, "tv": -0.5}, r"^Loss weights must be >= 0, got pixel=1.0, perceptual=0.0, tv=-0.5.$"),
    ({"pixel": 0.0}, "^All loss weights are 0: give at least one term a positive weight.$"),
    ({"pixel": 0.0, "perceptual": 1.0}, r"^perceptual > 0 needs perceptual_loss=VGGPerceptualLoss\(...\).$"),
])
def test_srloss_rejects_bad_weights(kwargs, message):
    with pytest.raises(ValueError, match=message):
        losses.SRLoss(**kwargs)


def test_course_losses_are_mse_perceptual_and_content(monkeypatch, capsys):
    class LPIPSStub:
        available, reason = False, "unavailable offline: stub"
    monkeypatch.setattr(losses.metrics, "LPIPSMetric", LPIPSStub)
    monkeypatch.setattr(losses, "VGGFeatures", lambda layers: VGGFeatures(layers, source="random"))  # no download
    load_vgg_weights("vgg16", "random")  # its one-time "VGG16 weights: ..." line goes before the capture below
    capsys.readouterr()
    found, perceptual, distance, lpips_metric = losses.course_losses()
    assert list(found) == ["MSE", "perceptual", "perceptual + pixel"] and isinstance(lpips_metric, LPIPSStub)
    mse, perc, content = found.values()
    assert (mse.pixel, mse.perceptual, mse.tv, mse.pixel_kind) == (1.0, 0.0, 0.0, "mse")
    assert (perc.pixel, perc.perceptual, perc.tv, perc.perceptual_loss) == (0.0, 1.0, 0.0, perceptual)
    assert (content.pixel, content.perceptual, content.perceptual_loss) == (10.0, 1.0, perceptual)
    assert losses.CONTENT_PIXEL_WEIGHT == 10.0  # SRGAN's content loss: VGG plus a small pixel term
    assert perceptual.layer_weights == {"relu3_3": 1.0} and tuple(perceptual.vgg.layers) == ("relu3_3",)
    assert tuple(distance.vgg.layers) == losses.metrics.DIST_LAYERS
    assert capsys.readouterr().out == (
        f"VGG16 weights in use: {perceptual.vgg.source}\nLPIPS: unavailable offline: stub\n-> the perceptual-vs-MSE "
        "comparison on LPIPS needs the pretrained weights (online / Colab); here we report "
        f"{distance.name}, the LPIPS paper's uncalibrated VGG distance on our backbone.\n")
    LPIPSStub.available = True
    losses.course_losses()
    assert capsys.readouterr().out.endswith("\nLPIPS: available\n")
