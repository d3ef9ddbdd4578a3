"""Course doc 000's WGAN-GP upscaler training, introduced in notebook 04 (written out there as well, kept equal
by ``tests/test_notebooks.py``): the generator's loss, the critic's loss and the alternating trainer.

* :class:`GeneratorLoss`: perceptual + TV content loss minus the ramped, scaled mean critic score.
* :class:`CriticLoss`: the Wasserstein loss ``mean D(fake) - mean D(real)`` plus ``gp_weight`` times
  :func:`helpers.losses.gradient_penalty` (Gulrajani et al. 2017).
* :class:`UpscaleTrainer`: the critic steps every adversarial step, the generator every ``n_critic``-th one
  (every step in the first adversarial epoch); each has its own Adam, learning rate and gradient clipping, and
  the network that does not step is frozen.

Images are ``(B, 3, H, W)`` RGB, nominally in ``[0, 1]`` (the generator's output is not clamped); critic scores
are ``(B, 1)`` and unbounded.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn as nn

from .config import autocast, to_channels_last
from .losses import gradient_penalty, tv_loss
from .results import History
from .train import check_finite, progress, set_requires_grad


class GeneratorLoss(nn.Module):
    """perceptual_weight * perceptual + tv_weight * TV - lambda_adv(epoch) * adv_weight * mean critic score.

    Returns (total, content, adversarial) scalars; adversarial = adv_weight * mean score, before the ramp.
    """

    def __init__(self, critic: nn.Module, perceptual: nn.Module, perceptual_weight: float = 1.0,
                 tv_weight: float = 0.1, adv_weight: float = 0.01, ramp_epochs: float = 5.0):
        super().__init__()
        self.critic, self.perceptual = critic, perceptual
        self.perceptual_weight, self.tv_weight = perceptual_weight, tv_weight
        self.adv_weight, self.ramp_epochs = adv_weight, ramp_epochs

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``output``, ``target``: (B, 3, H, W); ``epoch`` >= 0 sets lambda_adv = min(1, epoch / ramp_epochs)."""
        adversarial = self.adv_weight * self.critic(output).float().mean()
        adversarial_lambda = min(1.0, epoch / self.ramp_epochs)
        content = self.perceptual_weight * self.perceptual(output, target) + self.tv_weight * tv_loss(output.float())
        return content - adversarial_lambda * adversarial, content, adversarial


class CriticLoss(nn.Module):
    """mean D(fake) - mean D(real) + gp_weight * gradient penalty.

    Returns (loss, mean gradient norm at the interpolates x_hat, the Wasserstein part) scalars.
    """

    def __init__(self, critic: nn.Module, gp_weight: float = 10.0):
        super().__init__()
        self.critic, self.gp_weight = critic, gp_weight

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``real``, ``fake``: (B, 3, H, W); the penalty's interpolates use torch's global random generator."""
        wasserstein = -self.critic(real).float().mean() + self.critic(fake).float().mean()
        penalty, norms = gradient_penalty(self.critic, real.float(), fake.float())
        return wasserstein + self.gp_weight * penalty, norms.mean(), wasserstein


class UpscaleTrainer:
    """Alternating WGAN-GP training of a generator and a critic on (lr, hr) batches from `crops`; logs every term.

    ``lr`` is the generator's learning rate, ``critic_lr`` the critic's (``None``: the same).
    """

    def __init__(self, generator: nn.Module, critic: nn.Module, g_loss: GeneratorLoss, c_loss: CriticLoss,
                 crops: Iterator[tuple[torch.Tensor, torch.Tensor]], lr: float = 1e-4, n_critic: int = 5,
                 clip: float = 1.0, critic_lr: float | None = None):
        self.g, self.c, self.g_loss, self.c_loss, self.crops = generator, critic, g_loss, c_loss, crops
        self.device = next(generator.parameters()).device
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.9))
        self.opt_c = torch.optim.Adam(critic.parameters(), lr=critic_lr or lr, betas=(0.5, 0.9))
        self.n_critic, self.clip = n_critic, clip
        self.history = History()
        self.step = 0

    def train_critic(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """One critic step on (B, 3, h, w) LR and (B, 3, H, W) HR; the generator is frozen and runs without grad."""
        set_requires_grad(self.g, False)
        set_requires_grad(self.c, True)
        with torch.no_grad(), autocast(self.device):
            fake = self.g(lr).float()
        loss, gp_norm, wasserstein = self.c_loss(hr, fake)
        self.opt_c.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.c.parameters(), self.clip)
        self.opt_c.step()
        return {"critic_loss": loss, "gp_grad_norm": gp_norm, "wasserstein": wasserstein, "critic_grad_norm": norm}

    def train_generator(self, lr: torch.Tensor, hr: torch.Tensor, epoch: int) -> dict[str, torch.Tensor]:
        """One generator step; the critic is frozen (it still passes gradients to the generator's output)."""
        set_requires_grad(self.c, False)
        set_requires_grad(self.g, True)
        with autocast(self.device):
            output = self.g(lr)
            total, content, adversarial = self.g_loss(output, hr, epoch)
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        norm = nn.utils.clip_grad_norm_(self.g.parameters(), self.clip)
        self.opt_g.step()
        return {"generator_loss": total, "content_loss": content, "adversarial_loss": adversarial,
                "generator_grad_norm": norm}

    def epoch(self, epoch: int, steps: int, adversarial: bool = True) -> None:
        """One epoch. ``adversarial=False`` trains the generator alone on the content loss (the warm-up)."""
        for _ in progress(steps, desc=f"epoch {epoch}", leave=False):
            self.step += 1
            lr, hr = to_channels_last(*(t.to(self.device) for t in next(self.crops)))
            logs = self.train_critic(lr, hr) if adversarial else {}
            if not adversarial or epoch <= 1 or self.step % self.n_critic == 0:
                logs.update(self.train_generator(lr, hr, epoch if adversarial else 0))
            check_finite(self.step, **logs)
            self.history.log(self.step, epoch=epoch, **logs)
