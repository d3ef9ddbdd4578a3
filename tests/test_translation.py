"""helpers.translation on hand-made tiny networks: every loss term at its exact value, so a flipped sign, a
swapped real/fake label or a dropped term fails; the discriminators frozen during the generators' step."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.degrade import bicubic_down, gaussian_blur, upsample
from helpers.translation import CycleGAN, SRResCycGAN, degradation_gan_step, pix2pix_step, split_frequencies

BCE = F.binary_cross_entropy_with_logits


def conv1x1(weight: list[list[float]], bias: list[float] | None = None) -> nn.Conv2d:
    """A 1x1 convolution with the given ``(out, in)`` weight (and bias): a per-pixel linear map."""
    w = torch.tensor(weight)
    conv = nn.Conv2d(w.shape[1], w.shape[0], 1, bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(w.view(*w.shape, 1, 1))
        if bias is not None:
            conv.bias.copy_(torch.tensor(bias))
    return conv


def scaled_identity(k: float, c: int = 3) -> nn.Conv2d:
    return conv1x1((k * torch.eye(c)).tolist())


class Recorder(nn.Module):
    """Wraps a network and keeps a copy of every input it sees."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.seen = net, []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.net(x)


def spy_on_d_grads(opt_d: torch.optim.Optimizer, nets: list[nn.Module]) -> list:
    """Record the discriminators' gradients at the moment their own step begins (``opt_d.zero_grad``)."""
    seen, original = [], opt_d.zero_grad

    def spy(*args, **kwargs):
        seen.append([p.grad for net in nets for p in net.parameters()])
        original(*args, **kwargs)

    opt_d.zero_grad = spy
    return seen


# ----------------------------------------------------------------------------------------------- pix2pix
def pix2pix_nets():
    G = conv1x1([[0.5], [-0.3], [0.2]], [0.1, 0.0, -0.1])  # 1 channel (edges) -> 3 (photo)
    D = Recorder(conv1x1([[0.4, -0.7, 0.3, 0.9]], [0.05]))  # conditional: 1 + 3 channels -> one logit per pixel
    return G, D


def pix2pix_data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 4, 4, generator=g) * 2 - 1
    y = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1
    return x, y


def test_pix2pix_losses_have_their_exact_values():
    G, D = pix2pix_nets()
    x, y = pix2pix_data()
    with torch.no_grad():
        fake = G(x)
        d_fake, d_real = D.net(torch.cat([x, fake], 1)), D.net(torch.cat([x, y], 1))
    l1 = (fake - y).abs().mean()
    want_d = 0.5 * (BCE(d_fake, torch.zeros_like(d_fake)) + BCE(d_real, torch.ones_like(d_real)))
    want_g = 2.0 * BCE(d_fake, torch.ones_like(d_fake)) + 3.0 * l1  # λ_GAN = 2, λ_L1 = 3
    opt_G, opt_D = torch.optim.SGD(G.parameters(), lr=0.0), torch.optim.SGD(D.parameters(), lr=0.0)
    losses = pix2pix_step(G, D, opt_G, opt_D, x, y, lambda_l1=3.0, lambda_gan=2.0, use_amp=False)
    assert float(losses["L1"]) == pytest.approx(float(l1), abs=1e-6)
    assert float(losses["D"]) == pytest.approx(float(want_d), abs=1e-6)
    assert float(losses["G_GAN"]) == pytest.approx(float(BCE(d_fake, torch.ones_like(d_fake))), abs=1e-6)
    assert float(losses["G"]) == pytest.approx(float(want_g), abs=1e-6)


def test_pix2pix_discriminator_sees_input_output_pairs_on_the_channels():
    G, D = pix2pix_nets()
    x, y = pix2pix_data()
    with torch.no_grad():
        fake = G(x)
    pix2pix_step(G, D, torch.optim.SGD(G.parameters(), lr=0.0), torch.optim.SGD(D.parameters(), lr=0.0), x, y,
                 use_amp=False)
    assert len(D.seen) == 3  # fake pair and real pair for D's step, the fake pair again for G's
    assert all(s.shape == (2, 1 + 3, 4, 4) for s in D.seen)
    real_pair, fake_pair = torch.cat([x, y], 1), torch.cat([x, fake], 1)
    assert sum(torch.allclose(s, real_pair) for s in D.seen) == 1
    assert sum(torch.allclose(s, fake_pair) for s in D.seen) == 2


def test_pix2pix_discriminator_sees_the_condition_not_the_noise_when_given():
    g = torch.Generator().manual_seed(1)
    labels, noise = torch.rand(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    G = conv1x1([[0.5, 0.2], [-0.3, 0.1], [0.2, -0.4]])  # labels + noise (2 channels) -> 3
    D = Recorder(conv1x1([[0.4, -0.7, 0.3, 0.9]], [0.05]))  # sees labels + photo only
    _, y = pix2pix_data()
    x = torch.cat([labels, noise], 1)
    with torch.no_grad():
        fake = G(x)
    losses = pix2pix_step(G, D, torch.optim.SGD(G.parameters(), lr=0.0), torch.optim.SGD(D.parameters(), lr=0.0),
                          x, y, lambda_l1=1.0, lambda_gan=1.0, use_amp=False, cond=labels)
    assert [torch.allclose(s, p) for s, p in zip(D.seen, (torch.cat([labels, fake], 1),
                                                          torch.cat([labels, y], 1),
                                                          torch.cat([labels, fake], 1)))] == [True] * 3
    d_fake = D.net(torch.cat([labels, fake], 1))
    assert float(losses["G_GAN"]) == pytest.approx(float(BCE(d_fake, torch.ones_like(d_fake))), abs=1e-6)


def test_pix2pix_generator_descends_its_loss_and_d_is_frozen_during_g_step():
    G, D = pix2pix_nets()
    x, y = pix2pix_data()
    G0, D0 = [p.detach().clone() for p in G.parameters()], [p.detach().clone() for p in D.parameters()]
    # the gradients each network should get: G's from its own loss, D's from its own loss only
    Gc, Dc = pix2pix_nets()
    fake = Gc(x)
    d_loss = 0.5 * (BCE(Dc(torch.cat([x, fake.detach()], 1)), torch.zeros(2, 1, 4, 4))
                    + BCE(Dc(torch.cat([x, y], 1)), torch.ones(2, 1, 4, 4)))
    d_grads = torch.autograd.grad(d_loss, list(Dc.parameters()))
    pred = Dc(torch.cat([x, fake], 1))
    g_loss = 2.0 * BCE(pred, torch.ones_like(pred)) + 3.0 * (fake - y).abs().mean()
    g_grads = torch.autograd.grad(g_loss, list(Gc.parameters()))

    opt_G, opt_D = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.0)
    pix2pix_step(G, D, opt_G, opt_D, x, y, lambda_l1=3.0, lambda_gan=2.0, use_amp=False)
    for p, p0, g in zip(G.parameters(), G0, g_grads):
        assert torch.allclose(p, p0 - 0.1 * g, atol=1e-6)  # plain descent on λ_GAN·GAN + λ_L1·L1
    for p, p0, g in zip(D.parameters(), D0, d_grads):
        assert torch.equal(p, p0)
        assert torch.allclose(p.grad, g, atol=1e-6)  # nothing from G's loss leaked into D
        assert not p.requires_grad  # frozen after D's step


def test_pix2pix_l1_only_never_calls_d():
    G, D = pix2pix_nets()
    x, y = pix2pix_data()
    losses = pix2pix_step(G, D, torch.optim.SGD(G.parameters(), lr=0.0), torch.optim.SGD(D.parameters(), lr=0.0),
                          x, y, lambda_l1=100.0, lambda_gan=0.0, use_amp=False)
    assert D.seen == []
    assert float(losses["G_GAN"]) == float(losses["D"]) == 0.0
    assert float(losses["G"]) == pytest.approx(100.0 * float(losses["L1"]), rel=1e-6)


# ----------------------------------------------------------------------------------------------- CycleGAN
def cyclegan(total_steps: int = 10) -> CycleGAN:
    G, F_net = scaled_identity(0.5), scaled_identity(1.25)  # G(x) = 0.5 x, F(x) = 1.25 x
    D_A = conv1x1([[0.3, -0.2, 0.6]], [0.1])
    D_B = conv1x1([[-0.4, 0.5, 0.2]], [-0.2])
    return CycleGAN(G, F_net, D_A, D_B, total_steps, lr=1e-3)


def cycle_data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, 4, 4, generator=g) * 2 - 1, (torch.rand(2, 3, 4, 4, generator=g) * 2 - 1) * 0.4


@pytest.mark.parametrize("lambda_id", [0.5, 0.0])
def test_cyclegan_losses_have_their_exact_values(lambda_id):
    model = cyclegan()
    a, b = cycle_data()
    with torch.no_grad():
        d_b_fake, d_a_fake = model.D_B(0.5 * a), model.D_A(1.25 * b)
        adv = ((d_b_fake - 1) ** 2).mean() + ((d_a_fake - 1) ** 2).mean()
        cyc = (0.625 * a - a).abs().mean() + (0.625 * b - b).abs().mean()  # |F(G(a)) - a| + |G(F(b)) - b|
        idt = (0.5 * b - b).abs().mean() + (1.25 * a - a).abs().mean()  # |G(b) - b| + |F(a) - a|
        d = 0.5 * (((model.D_B(b) - 1) ** 2).mean() + (d_b_fake ** 2).mean()) \
            + 0.5 * (((model.D_A(a) - 1) ** 2).mean() + (d_a_fake ** 2).mean())
    losses = model.step(a, b, lambda_cyc=10.0, lambda_id=lambda_id, use_amp=False)
    assert float(losses["G adv"]) == pytest.approx(float(adv), abs=1e-5)
    assert float(losses["cycle L1"]) == pytest.approx(float(cyc), abs=1e-6)
    assert float(losses["identity L1"]) == pytest.approx(float(idt) if lambda_id else 0.0, abs=1e-6)
    assert float(losses["G total"]) == pytest.approx(float(adv + 10.0 * cyc + lambda_id * idt), abs=1e-5)
    assert float(losses["D"]) == pytest.approx(float(d), abs=1e-5)


def test_cyclegan_discriminators_frozen_during_the_generators_step():
    model = cyclegan()
    seen = spy_on_d_grads(model.opt_d, [model.D_A, model.D_B])
    a, b = cycle_data()
    model.step(a, b, 10.0, 0.5, use_amp=False)
    assert seen and all(g is None for g in seen[0])  # G's loss put no gradient into D_A or D_B
    assert all(p.grad is not None for p in model.D_A.parameters())  # then D trained on its own loss


def test_cyclegan_generators_step_downhill_and_schedule_decays():
    model = cyclegan(total_steps=4)
    a, b = cycle_data()
    first = model.step(a, b, 10.0, 0.5, use_amp=False)
    for _ in range(2):
        last = model.step(a, b, 10.0, 0.5, use_amp=False)
    assert float(last["cycle L1"]) < float(first["cycle L1"])  # F(G(x)) moves towards x
    assert model.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)  # step 3 of 4: half-way down
    model.restart_schedule(10)
    assert model.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3)


# ----------------------------------------------------------------------------------------------- SRResCycGAN
class Up(nn.Module):
    """Nearest 2x upsampling, then a per-pixel linear map: a tiny G_HR."""

    def __init__(self, k: float):
        super().__init__()
        self.conv = scaled_identity(k)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Down(nn.Module):
    """2x2 average pooling, then a per-pixel linear map: a tiny G_LR."""

    def __init__(self, k: float):
        super().__init__()
        self.conv = scaled_identity(k)

    def forward(self, x):
        return self.conv(F.avg_pool2d(x, 2))


WEIGHTS = {"λ_per": 2.0, "λ_adv": 3.0, "λ_TV": 5.0, "λ_content": 7.0, "λ_cyc": 11.0, "λ_id": 13.0}


def srrescycgan() -> SRResCycGAN:
    features = conv1x1([[0.2, 0.5, -0.3], [0.7, -0.1, 0.4]])

    def degrade(x):
        return 0.8 * F.avg_pool2d(x, 2)

    return SRResCycGAN(Up(0.9), Down(1.1), conv1x1([[0.3, -0.2, 0.6]], [0.1]),
                       conv1x1([[-0.4, 0.5, 0.2]], [-0.2]), features, degrade, scale=2, lr=1e-3, halve_every=2)


def test_srrescycgan_six_terms_with_their_weights():
    model = srrescycgan()
    g = torch.Generator().manual_seed(2)
    y, x = torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    G_HR, G_LR, D_HR, D_LR = model.G_HR, model.G_LR, model.D_HR, model.D_LR
    with torch.no_grad():
        fake_hr, fake_lr = G_HR(y), G_LR(x)
        s = G_HR(0.8 * F.avg_pool2d(x, 2))

        def ones(t):
            return torch.ones_like(t)

        want = {
            "perceptual": F.mse_loss(model.features(s), model.features(x)),
            "adversarial": BCE(D_HR(fake_hr), ones(D_HR(fake_hr))) + BCE(D_LR(fake_lr), ones(D_LR(fake_lr))),
            "TV": (torch.diff(s, dim=-1) - torch.diff(x, dim=-1)).abs().mean()
            + (torch.diff(s, dim=-2) - torch.diff(x, dim=-2)).abs().mean(),
            "content": (s - x).abs().mean(),
            "cycle": (G_LR(fake_hr) - y).abs().mean() + (G_HR(fake_lr) - x).abs().mean(),
            "identity": (G_HR(bicubic_down(x, 2)) - x).abs().mean() + (G_LR(upsample(y, 2)) - y).abs().mean(),
            "D": 0.5 * (BCE(D_HR(x), ones(D_HR(x))) + BCE(D_HR(fake_hr), 0 * D_HR(fake_hr)))
            + 0.5 * (BCE(D_LR(y), ones(D_LR(y))) + BCE(D_LR(fake_lr), 0 * D_LR(fake_lr))),
        }
    weight_of = {"perceptual": "λ_per", "adversarial": "λ_adv", "TV": "λ_TV", "content": "λ_content",
                 "cycle": "λ_cyc", "identity": "λ_id"}
    losses = model.step(y, x, WEIGHTS, use_amp=False)
    for name, value in want.items():
        assert float(losses[name]) == pytest.approx(float(value), abs=1e-5), name
    total = sum(WEIGHTS[weight_of[k]] * want[k] for k in weight_of)
    assert float(losses["G total"]) == pytest.approx(float(total), abs=1e-4)
    assert model.step_count == 1


def test_srrescycgan_zero_weights_switch_terms_off_and_d_is_frozen():
    model = srrescycgan()
    seen = spy_on_d_grads(model.opt_d, [model.D_HR, model.D_LR])
    g = torch.Generator().manual_seed(3)
    y, x = torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    losses = model.step(y, x, {**WEIGHTS, "λ_per": 0.0, "λ_id": 0.0}, use_amp=False)
    assert float(losses["perceptual"]) == float(losses["identity"]) == 0.0
    assert seen and all(grad is None for grad in seen[0])  # the generators' loss left D_HR and D_LR alone
    model.step(y, x, WEIGHTS, use_amp=False)
    assert model.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)  # halved every 2 steps


# ------------------------------------------------------------------------------- the learned degradation (08)
def test_split_frequencies_is_blur_plus_rest():
    img = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    low, high = split_frequencies(img, 1.5)
    assert torch.allclose(low, gaussian_blur(img, 1.5)) and torch.allclose(low + high, img)
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert split_frequencies(flat)[1].abs().max() < 1e-6  # a flat image has no high frequencies


def test_degradation_gan_step_losses_have_their_exact_values_and_d_sees_high_frequencies():
    G_LR, D_LR = Down(1.1), Recorder(conv1x1([[0.6, -0.4, 0.9]], [0.05]))
    opt_g = torch.optim.SGD(G_LR.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(D_LR.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(5)
    x, y = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 4, 4, generator=g)
    with torch.no_grad():
        fake = G_LR(x)
        low_fake, high_fake = gaussian_blur(fake, 0.8), fake - gaussian_blur(fake, 0.8)
        high_real = y - gaussian_blur(y, 0.8)
        want_d = 0.5 * (BCE(D_LR.net(high_real), torch.ones(2, 1, 4, 4))
                        + BCE(D_LR.net(high_fake), torch.zeros(2, 1, 4, 4)))
        want_low = (low_fake - gaussian_blur(bicubic_down(x, 2), 0.8)).abs().mean()
    losses = degradation_gan_step(G_LR, D_LR, opt_g, opt_d, x, y, scale=2, lambda_low=3.0, lambda_adv=7.0,
                                  sigma=0.8, use_amp=False)
    assert torch.allclose(D_LR.seen[0], high_real, atol=1e-6)  # D judges the real photos' high frequencies only
    assert float(losses["D"]) == pytest.approx(float(want_d), abs=1e-5)
    with torch.no_grad():  # G's adversarial term uses D after its own step; D is left alone by G's step
        want_adv = BCE(D_LR.net(high_fake), torch.ones(2, 1, 4, 4))
    assert float(losses["low L1"]) == pytest.approx(float(want_low), abs=1e-6)
    assert float(losses["adversarial"]) == pytest.approx(float(want_adv), abs=1e-5)
    assert float(losses["G"]) == pytest.approx(3.0 * float(want_low) + 7.0 * float(want_adv), abs=1e-5)


def test_degradation_gan_step_d_frozen_during_g_and_g_descends():
    G_LR, D_LR = Down(1.1), conv1x1([[0.6, -0.4, 0.9]], [0.05])
    opt_g = torch.optim.SGD(G_LR.parameters(), lr=1e-3)
    opt_d = torch.optim.SGD(D_LR.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(6)
    x, y = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 4, 4, generator=g)
    seen, zero_grad = [], opt_g.zero_grad

    def spy(*args, **kwargs):  # a copy of D_LR's gradients when G_LR's step begins: its own D step's
        seen.append([p.grad.clone() for p in D_LR.parameters()])
        zero_grad(*args, **kwargs)

    opt_g.zero_grad = spy
    degradation_gan_step(G_LR, D_LR, opt_g, opt_d, x, y, scale=2, lambda_low=1.0, lambda_adv=0.05, use_amp=False)
    assert all(torch.equal(a, p.grad) for a, p in zip(seen[0], D_LR.parameters()))  # G's backward left D_LR alone

    def g_loss():
        with torch.no_grad():
            fake = G_LR(x)
            low = (gaussian_blur(fake, 1.0) - gaussian_blur(bicubic_down(x, 2), 1.0)).abs().mean()
            high = fake - gaussian_blur(fake, 1.0)
            return float(low + 0.05 * BCE(D_LR(high), torch.ones(2, 1, 4, 4)))

    before = g_loss()
    degradation_gan_step(G_LR, D_LR, opt_g, torch.optim.SGD(D_LR.parameters(), lr=0.0), x, y, scale=2,
                         lambda_low=1.0, lambda_adv=0.05, use_amp=False)
    assert g_loss() < before


def test_degradation_gan_step_weights_the_low_frequencies_30_by_default():
    """The default keeps G_LR's colours (notebook 08: at 1 it trades them for texture)."""
    def g_loss(**kwargs):
        G_LR, D_LR = Down(1.1), conv1x1([[0.6, -0.4, 0.9]], [0.05])
        g = torch.Generator().manual_seed(6)
        x, y = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 4, 4, generator=g)
        opt_g, opt_d = (torch.optim.SGD(n.parameters(), lr=0.0) for n in (G_LR, D_LR))
        losses = degradation_gan_step(G_LR, D_LR, opt_g, opt_d, x, y, scale=2, use_amp=False, **kwargs)
        return float(losses["G"]), float(losses["low L1"]), float(losses["adversarial"])

    total, low, adv = g_loss()
    assert low > 0 and total == pytest.approx(30.0 * low + adv)
    assert g_loss(lambda_low=30.0) == g_loss()


def test_srrescycgan_without_adversarial_and_cycle_trains_g_hr_alone():
    model = srrescycgan()
    frozen = [copy.deepcopy(n.state_dict()) for n in (model.G_LR, model.D_HR, model.D_LR)]
    g_hr = copy.deepcopy(model.G_HR.state_dict())
    g = torch.Generator().manual_seed(7)
    y, x = torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    w = {**WEIGHTS, "λ_adv": 0.0, "λ_cyc": 0.0, "λ_id": 0.0}
    losses = model.step(y, x, w, use_amp=False)
    assert float(losses["adversarial"]) == float(losses["cycle"]) == float(losses["D"]) == 0.0
    assert float(losses["content"]) > 0 and float(losses["TV"]) > 0
    for net, before in zip((model.G_LR, model.D_HR, model.D_LR), frozen):
        assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert not all(torch.equal(v, g_hr[k]) for k, v in model.G_HR.state_dict().items())
    # with lambda_cyc alone the cycles run: the backward cycle trains G_LR
    losses = model.step(y, x, {**w, "λ_cyc": 1.0}, use_amp=False)
    assert float(losses["cycle"]) > 0 and float(losses["D"]) > 0
    assert not all(torch.equal(v, frozen[0][k]) for k, v in model.G_LR.state_dict().items())
