"""Image-to-image translation training: one training step of pix2pix (paired, notebook 06), CycleGAN
(unpaired, notebook 07) and SRResCycGAN (unpaired real-world super-resolution, notebook 08).

The notebooks write these out (``# twin:`` cells; ``tests/test_notebooks.py`` keeps both copies equal) and
drive them with their own loops, logging and plots. The networks are arguments, so
``tests/test_translation.py`` checks every loss term on hand-made tiny networks.

* :func:`pix2pix_step` -- ``L_G = λ_GAN·GAN(D(x, G(x)), real) + λ_L1·|G(x) - y|``; a conditional D that sees
  (condition, output) pairs concatenated on the channels, halved D loss, D frozen during G's step.
* :class:`CycleGAN` -- two generators, two PatchGANs, LSGAN losses, cycle and identity L1, image pools and
  the linear learning-rate decay.
* :class:`SRResCycGAN` -- G_HR, G_LR, D_HR, D_LR with six generator terms (perceptual, adversarial,
  gradient TV, content, cycle, identity).
* :func:`degradation_gan_step` -- a learned degradation G_LR from unpaired data (DSGAN-style): its low
  frequencies tied to bicubic downsampling, its high frequencies judged by D_LR against the real LR photos'.

Images in the steps are ``(B, C, H, W)`` tensors; the value ranges are each method's own (``[-1, 1]`` for
the tanh generators of pix2pix and CycleGAN, ``[0, 1]`` for SRResCycGAN).
"""
from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import autocast, to_channels_last
from .data import from_pm1, to_pm1
from .degrade import bicubic_down, gaussian_blur, upsample
from .losses import GANLoss
from .models.cyclegan import ImagePool, linear_decay
from .models.srrescycgan import gradient_tv_loss
from .results import History
from .train import check_finite, set_requires_grad


def pix2pix_step(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer,
                 x: torch.Tensor, y: torch.Tensor, lambda_l1: float = 100.0, lambda_gan: float = 1.0,
                 step: int = 0, gan_mode: str = "vanilla", use_amp: bool = True,
                 cond: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One pix2pix step (Isola et al. 2017) on inputs ``x`` ``(B, C_in, H, W)`` and targets ``y``
    ``(B, C_out, H, W)``, both in ``[-1, 1]`` on the networks' device.

    (1) ``fake = G(x)``; (2) when ``lambda_gan > 0``, D steps on
    ``0.5 * (GAN(D(cat[c, fake.detach()]), fake) + GAN(D(cat[c, y]), real))`` (pairs concatenated on the
    channels: a *conditional* D); (3) with D frozen, G steps on
    ``lambda_gan * GAN(D(cat[c, fake]), real) + lambda_l1 * mean|fake - y|``. The condition ``c`` is ``x``, or
    ``cond`` ``(B, C_c, H, W)`` when ``x`` also carries noise channels that D must not see (D could otherwise
    spot a fake by its dependence on the noise). ``lambda_gan = 0`` is "L1 only" (D is not used). Returns the
    detached losses ``L1``, ``G_GAN``, ``D``, ``G``; a NaN/inf loss raises
    :class:`helpers.train.TrainingDiverged` naming ``step``.
    """
    gan_loss = GANLoss(gan_mode)
    c = x if cond is None else cond
    with autocast(x.device, use_amp):
        fake = G(x)
    zero = torch.zeros((), device=x.device)
    loss_D, loss_G_gan = zero, zero
    if lambda_gan > 0:
        set_requires_grad(D, True)
        with autocast(x.device, use_amp):
            pred_fake = D(torch.cat([c, fake.detach()], 1))
            pred_real = D(torch.cat([c, y], 1))
        loss_D = 0.5 * (gan_loss(pred_fake, False) + gan_loss(pred_real, True))
        check_finite(step, loss_D=loss_D)
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()
        set_requires_grad(D, False)  # G's step must not train D
        with autocast(x.device, use_amp):
            pred = D(torch.cat([c, fake], 1))
        loss_G_gan = gan_loss(pred, True)
    loss_l1 = F.l1_loss(fake.float(), y.float())
    loss_G = lambda_gan * loss_G_gan + lambda_l1 * loss_l1
    check_finite(step, loss_G=loss_G)
    opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    opt_G.step()
    return {"L1": loss_l1.detach(), "G_GAN": loss_G_gan.detach(), "D": loss_D.detach(), "G": loss_G.detach()}


class CycleGAN:
    """Zhu et al. (2017): generators ``G: A -> B`` and ``F: B -> A``, discriminators ``D_A`` (real A vs F(b))
    and ``D_B`` (real B vs G(a)), Adam(``lr``, β = (0.5, 0.999)) for each pair, the learning rate constant for
    the first half of ``total_steps`` and then linearly to 0, and a pool of ``pool_size`` generated images per
    discriminator. The generators map ``[-1, 1]`` to ``[-1, 1]`` (tanh).

    :meth:`step` trains once: the generators (discriminators frozen) on
    ``LSGAN(D_B(G(a)), real) + LSGAN(D_A(F(b)), real) + λ_cyc (|F(G(a)) - a| + |G(F(b)) - b|)
    + λ_id (|G(b) - b| + |F(a) - a|)``, then the discriminators on
    ``0.5 (LSGAN(D(real), real) + LSGAN(D(pooled fake), fake))`` each.
    """

    def __init__(self, G: nn.Module, F: nn.Module, D_A: nn.Module, D_B: nn.Module, total_steps: int,
                 lr: float = 2e-4, pool_size: int = 50):
        self.G, self.F, self.D_A, self.D_B = to_channels_last(G, F, D_A, D_B)
        self.device = next(G.parameters()).device
        self.gan_loss = GANLoss("lsgan")
        self.opt_g = torch.optim.Adam(itertools.chain(self.G.parameters(), self.F.parameters()), lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()), lr,
                                      betas=(0.5, 0.999))
        self.sched = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: linear_decay(s, total_steps))
                      for o in (self.opt_g, self.opt_d)]
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)

    def restart_schedule(self, total_steps: int) -> None:
        """Start a fresh constant-then-decay schedule over ``total_steps`` more steps (the rate goes back up)."""
        for s in self.sched:
            s.lr_lambdas = [lambda k: linear_decay(k, total_steps)]
            s.last_epoch = -1
            s.step()

    def step(self, a: torch.Tensor, b: torch.Tensor, lambda_cyc: float, lambda_id: float,
             use_amp: bool = True) -> dict[str, torch.Tensor]:
        """One training step on ``a``, ``b`` ``(B, 3, H, W)`` in ``[-1, 1]``; returns the losses (fp32 scalars):
        ``G adv``, ``cycle L1``, ``identity L1`` (unweighted), ``G total`` and ``D``."""
        gan_loss = self.gan_loss
        a, b = to_channels_last(a.to(self.device), b.to(self.device))
        set_requires_grad([self.D_A, self.D_B], False)
        with autocast(self.device, use_amp):
            fake_b, fake_a = self.G(a), self.F(b)
            rec_a, rec_b = self.F(fake_b), self.G(fake_a)
            adv = gan_loss(self.D_B(fake_b), True) + gan_loss(self.D_A(fake_a), True)
            cyc = F.l1_loss(rec_a.float(), a) + F.l1_loss(rec_b.float(), b)
            idt = (F.l1_loss(self.G(b).float(), b) + F.l1_loss(self.F(a).float(), a)) if lambda_id \
                else torch.zeros((), device=self.device)
        loss_g = adv + lambda_cyc * cyc + lambda_id * idt
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        set_requires_grad([self.D_A, self.D_B], True)
        with autocast(self.device, use_amp):
            pooled_b, pooled_a = self.pool_b.query(fake_b), self.pool_a.query(fake_a)
            loss_d_b = 0.5 * (gan_loss(self.D_B(b), True) + gan_loss(self.D_B(pooled_b), False))
            loss_d_a = 0.5 * (gan_loss(self.D_A(a), True) + gan_loss(self.D_A(pooled_a), False))
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        self.opt_d.step()
        for s in self.sched:
            s.step()
        return {"G adv": adv.detach(), "cycle L1": cyc.detach(), "identity L1": idt.detach(),
                "G total": loss_g.detach(), "D": (loss_d_a + loss_d_b).detach()}

    @torch.no_grad()
    def translate(self, net: nn.Module, img: torch.Tensor) -> torch.Tensor:
        """``[0, 1]`` in, ``[0, 1]`` out (on the CPU): the explicit conversion at the tanh generator's boundary."""
        net.eval()
        with autocast(self.device):
            y = net(to_channels_last(to_pm1(img.to(self.device))))
        net.train()
        return from_pm1(y.float()).cpu()


class SRResCycGAN:
    """Umer & Micheloni (2020), as notebook 08 trains it: the upscaler ``G_HR`` (LR -> HR), the learned
    degradation ``G_LR`` (HR -> LR), the discriminators ``D_HR`` and ``D_LR`` (logits), Adam(``lr``) for the
    generators and for the discriminators, the rate halved every ``halve_every`` steps.

    ``features(img) -> (B, C, h, w)`` is the perceptual loss's feature map (VGG ``relu2_2`` in notebook 08);
    ``degrade(x)`` is the degradation *model* that turns clean HR crops into synthetic LR inputs for the
    supervised terms (a guess, not the truth). :meth:`step` trains once; ``history`` and ``step_count`` are
    the caller's log.
    """

    def __init__(self, G_HR: nn.Module, G_LR: nn.Module, D_HR: nn.Module, D_LR: nn.Module,
                 features: Callable[[torch.Tensor], torch.Tensor], degrade: Callable[[torch.Tensor], torch.Tensor],
                 scale: int = 4, lr: float = 1e-4, halve_every: int = 10_000):
        self.G_HR, self.G_LR, self.D_HR, self.D_LR = to_channels_last(G_HR, G_LR, D_HR, D_LR)
        self.features, self.degrade, self.scale = features, degrade, scale
        self.device = next(G_HR.parameters()).device
        self.gan_loss = GANLoss("vanilla")
        self.opt_g = torch.optim.Adam(itertools.chain(self.G_HR.parameters(), self.G_LR.parameters()), lr)
        self.opt_d = torch.optim.Adam(itertools.chain(self.D_HR.parameters(), self.D_LR.parameters()), lr)
        self.sched = [torch.optim.lr_scheduler.StepLR(o, halve_every, gamma=0.5) for o in (self.opt_g, self.opt_d)]
        self.history = History()
        self.step_count = 0

    def step(self, y: torch.Tensor, x: torch.Tensor, w: dict[str, float],
             use_amp: bool = True) -> dict[str, torch.Tensor]:
        """One step on real LR crops ``y`` ``(B, 3, h, w)`` and clean HR crops ``x`` ``(B, 3, s*h, s*w)`` of
        other photos, both in ``[0, 1]``; ``w`` holds the weights ``λ_per``, ``λ_adv``, ``λ_TV``,
        ``λ_content``, ``λ_cyc``, ``λ_id``. With ``λ_adv = λ_cyc = 0`` the cycles, the adversarial terms and the
        discriminators' step are skipped (logged as 0): the supervised terms alone, the cycle phase's control.
        Returns the detached unweighted terms, ``G total`` and ``D``."""
        gan_loss, zero = self.gan_loss, torch.zeros((), device=self.device)
        unpaired = bool(w["λ_adv"] or w["λ_cyc"])  # False: the supervised terms alone (a control)
        y, x = to_channels_last(y.to(self.device), x.to(self.device))
        y_guess = to_channels_last(self.degrade(x))  # in fp32, outside autocast
        set_requires_grad([self.D_HR, self.D_LR], False)
        x32, adv, cyc, loss_d = x.float(), zero, zero, zero
        with autocast(self.device, use_amp):
            s = self.G_HR(y_guess)                    # the synthetic pair (degrade(x), x)
            per = F.mse_loss(self.features(s).float(), self.features(x).float()) if w["λ_per"] else zero
            idt = (F.l1_loss(self.G_HR(bicubic_down(x, self.scale)).float(), x)
                   + F.l1_loss(self.G_LR(upsample(y, self.scale)).float(), y)) if w["λ_id"] else zero
            if unpaired:
                fake_hr = self.G_HR(y)                # forward cycle
                rec_lr = self.G_LR(fake_hr)
                fake_lr = self.G_LR(x)                # backward cycle
                rec_hr = self.G_HR(fake_lr)
                adv = gan_loss(self.D_HR(fake_hr), True) + gan_loss(self.D_LR(fake_lr), True)
                cyc = F.l1_loss(rec_lr.float(), y.float()) + F.l1_loss(rec_hr.float(), x32)
        s = s.float()
        con, tv = F.l1_loss(s, x32), gradient_tv_loss(s, x32)
        loss_g = (w["λ_per"] * per + w["λ_adv"] * adv + w["λ_TV"] * tv + w["λ_content"] * con
                  + w["λ_cyc"] * cyc + w["λ_id"] * idt)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        if unpaired:  # without the adversarial and cycle terms the discriminators are not used
            set_requires_grad([self.D_HR, self.D_LR], True)
            with autocast(self.device, use_amp):
                loss_d = 0.5 * (gan_loss(self.D_HR(x), True) + gan_loss(self.D_HR(fake_hr.detach()), False)) \
                    + 0.5 * (gan_loss(self.D_LR(y), True) + gan_loss(self.D_LR(fake_lr.detach()), False))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        for sch in self.sched if unpaired else self.sched[:1]:  # a scheduler steps only after its optimiser
            sch.step()
        self.step_count += 1
        logs = {"G total": loss_g, "perceptual": per, "adversarial": adv, "TV": tv, "content": con, "cycle": cyc,
                "identity": idt, "D": loss_d}
        check_finite(self.step_count, **logs)
        return {k: v.detach() for k, v in logs.items()}


def split_frequencies(img: torch.Tensor, sigma: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)`` of ``(B, 3, H, W)`` in ``[0, 1]``: ``low`` = Gaussian blur with ``sigma`` pixels (reflect
    padding), ``high = img - low`` (fine detail, noise, JPEG edges; mean about 0)."""
    low = gaussian_blur(img, sigma)
    return low, img - low


def degradation_gan_step(G_LR: nn.Module, D_LR: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                         x: torch.Tensor, y: torch.Tensor, scale: int, lambda_low: float = 30.0,
                         lambda_adv: float = 1.0, sigma: float = 1.0, step: int = 0,
                         use_amp: bool = True) -> dict[str, torch.Tensor]:
    """One step of learning a degradation from unpaired data, after DSGAN (Fritsche et al. 2019), the degradation
    model SRResCycGAN's pairs come from: clean HR crops ``x`` ``(B, 3, s*h, s*w)`` and real LR crops ``y``
    ``(B, 3, h, w)`` of *other* photos, both in ``[0, 1]``; ``fake = G_LR(x)``; ``low``/``high`` as in
    :func:`split_frequencies` (``sigma`` in LR pixels).

    (1) D_LR steps on ``0.5 * (BCE(D_LR(high(y)), real) + BCE(D_LR(high(fake.detach())), fake))``: it sees only
    the high frequencies, so it judges noise, blur and compression, not the photos' different content or colours;
    (2) with D_LR frozen, G_LR steps on ``lambda_low * mean|low(fake) - low(bicubic_down(x))|
    + lambda_adv * BCE(D_LR(high(fake)), real)``: the content stays that of ``x``, the texture becomes the real
    photos'. The default weights are ours, for a few hundred CPU steps: at ``lambda_low = 1`` G_LR trades its
    colours for texture (a grey-green cast, notebook 08 measures it); DSGAN weights its texture term lower still
    over a long GPU run (1 : 0.005). Returns the detached ``low L1``, ``adversarial`` (unweighted), ``G`` and
    ``D``; a NaN/inf raises :class:`helpers.train.TrainingDiverged` naming ``step``.
    """
    gan_loss = GANLoss("vanilla")
    with autocast(x.device, use_amp):
        fake = G_LR(x).float()
    low_fake, high_fake = split_frequencies(fake, sigma)
    high_real = split_frequencies(y.float(), sigma)[1]
    set_requires_grad(D_LR, True)
    with autocast(x.device, use_amp):
        loss_d = 0.5 * (gan_loss(D_LR(high_real).float(), True) + gan_loss(D_LR(high_fake.detach()).float(), False))
    check_finite(step, D=loss_d)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    set_requires_grad(D_LR, False)  # G_LR's step must not train D_LR
    with autocast(x.device, use_amp):
        adv = gan_loss(D_LR(high_fake).float(), True)
    low = F.l1_loss(low_fake, split_frequencies(bicubic_down(x.float(), scale), sigma)[0])
    loss_g = lambda_low * low + lambda_adv * adv
    check_finite(step, G=loss_g)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"low L1": low.detach(), "adversarial": adv.detach(), "G": loss_g.detach(), "D": loss_d.detach()}
