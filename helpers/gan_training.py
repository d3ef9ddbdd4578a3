"""The GAN training steps and loops that notebooks 05 (vanilla GAN and DCGAN) and 10 (progressive GAN) teach.
The notebooks write them out as well (``# twin:`` cells; ``tests/test_notebooks.py`` keeps both equal) and
``tests/test_gan_training.py`` checks every term on tiny hand-made networks.

* Notebook 05: :func:`gan_step` (discriminator updates with BCE, real -> ``real_label``, generated -> 0; then one
  generator update with the discriminator frozen, non-saturating or saturating loss) and :func:`train_gan` (the
  loop: Adam for both, the "discriminator has won" guard, scores and fixed-noise snapshots).
* Notebook 10: :func:`progan_step` (a WGAN-GP critic update with the drift term, then a generator update) and
  :func:`train_stage` (one stage of the progressive schedule: fade-in steps with rising alpha, then stable steps).

Images are ``(B, C, H, W)``; the networks read and write the ``[-1, 1]`` range (:func:`helpers.data.to_pm1`);
:func:`sample_images` and :func:`sample_stage` return ``[0, 1]`` for scoring and display.
"""
from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn as nn

from .config import autocast, to_channels_last
from .data import from_pm1
from .losses import GANLoss, gradient_penalty
from .models.progan import fade_alpha, stage_reals
from .results import History
from .train import TrainingDiverged, check_finite, progress, set_requires_grad

G_LOSSES = ("non_saturating", "saturating")


def sample_images(G: nn.Module, n: int = 16, z: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` images of ``G`` (``(B, G.z_dim)`` -> ``(B, C, H, W)`` in ``[-1, 1]``) as ``(n, C, H, W)`` in ``[0, 1]``
    on the CPU. ``z`` ``(n, >= G.z_dim)`` is cut to ``G.z_dim`` (one fixed batch serves every latent size); without
    it fresh ``N(0, I)`` codes. BatchNorm uses its running statistics (eval mode); ``G`` is left in train mode."""
    device = next(G.parameters()).device
    G.eval()
    with torch.no_grad():
        codes = z[:, :G.z_dim].to(device) if z is not None else torch.randn(n, G.z_dim, device=device)
        imgs = from_pm1(G(codes).float())
    G.train()
    return imgs.cpu()


def sample_stage(G: nn.Module, n: int, expand: int, alpha: float = -1, z: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` images of a progressive generator at stage ``expand`` (fade-in weight ``alpha``) in ``[0, 1]``, on
    the CPU: its linear output clamped to ``[-1, 1]``, then converted. ``z``: ``(n, G.code_dim)`` codes or fresh."""
    device = next(G.parameters()).device
    with torch.no_grad():
        z = torch.randn(n, G.code_dim, device=device) if z is None else z.to(device)
        return from_pm1(G(z, expand, alpha).float().clamp(-1, 1)).cpu()


def gan_step(G, D, real, opt_g, opt_d, *, batch_size=64, d_steps=1, real_label=1.0, g_loss="non_saturating",
             augment=None, d_skip_below=None):
    """One step of alternating GAN training (Goodfellow et al. 2014) on ``real`` images ``(N, C, H, W)`` in [-1, 1].

    ``d_steps`` discriminator updates: BCE with target ``real_label`` (< 1: one-sided label smoothing) on a real
    batch and target 0 on as many generated images (``detach()``ed, so G is not updated). Then one generator
    update with D frozen, on the fakes of the last D step judged by the updated D: ``"non_saturating"`` minimises
    ``-log σ(D(G(z)))`` (gradient ``-(1 - σ)`` per logit), ``"saturating"`` minimises ``log(1 - σ(D(G(z))))``
    (gradient ``-σ``). ``augment`` transforms every batch D sees, real and generated alike. ``d_skip_below``
    (course doc 002's remedy for a discriminator that wins): a D update whose loss is already below this value
    is skipped (the loss is still computed and returned); ``None`` always updates.
    Returns detached scalars: ``loss_d``, ``loss_g``, ``grad_g`` (norm of G's gradient), ``p_real`` and ``p_fake``
    (mean ``σ(D)`` on the last real batch and on the generated batch of the G step), ``d_updates`` (D updates
    made, of ``d_steps``).
    """
    if g_loss not in G_LOSSES:
        raise ValueError(f"g_loss must be one of {G_LOSSES}, got {g_loss!r}.")
    aug = augment or (lambda x: x)
    loss_d_fn = GANLoss("vanilla", real_label=real_label)  # one-sided smoothing: D's real targets only
    loss_g_fn = GANLoss("vanilla")
    device = real.device
    # --- D step(s): real -> real_label, fake -> 0; G is not updated; skipped while D's loss is below d_skip_below
    set_requires_grad(D, True)
    d_updates = 0
    for _ in range(d_steps):
        x = real[torch.randint(len(real), (batch_size,), device=device)]
        with autocast(device):
            fake = G(torch.randn(batch_size, G.z_dim, device=device))  # keeps its graph for the G step
            d_real, d_fake = D(aug(x)), D(aug(fake.detach()))
        loss_d = loss_d_fn(d_real, True) + loss_d_fn(d_fake, False)
        if d_skip_below is None or loss_d.item() >= d_skip_below:
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            d_updates += 1
    # --- G step: D frozen; non-saturating = BCE with label "real"; saturating = minimise log(1 - σ(D)).
    # The fakes of the (last) D step, now judged by the updated D: one G forward per step.
    set_requires_grad(D, False)
    with autocast(device):
        d_gen = D(aug(fake))
    loss_g = loss_g_fn(d_gen, True) if g_loss == "non_saturating" else -loss_g_fn(d_gen, False)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    grad_g = torch.nn.utils.clip_grad_norm_(G.parameters(), float("inf"))  # only measures the norm
    opt_g.step()
    set_requires_grad(D, True)
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "grad_g": grad_g.detach(),
            "p_real": torch.sigmoid(d_real.detach().float()).mean(),
            "p_fake": torch.sigmoid(d_gen.detach().float()).mean(), "d_updates": torch.tensor(float(d_updates))}


def train_gan(G, D, real, steps, *, lr_g=2e-4, lr_d=2e-4, d_steps=1, real_label=1.0, g_loss="non_saturating",
              batch_size=64, augment=None, d_skip_below=None, score=None, eval_every=0, fixed_z=None, name="GAN",
              state=None, win_patience=100, g_optimizer="adam"):
    """Alternating GAN training: ``steps`` calls of :func:`gan_step` with Adam (β₁ = 0.5) for G and D.

    ``score(G)`` (e.g. the digit classifier on fresh samples) is logged at step 1, every ``eval_every`` steps
    and at the end, together with a snapshot of the ``fixed_z`` codes. A NaN loss, or a discriminator that has
    won (``σ(D(G(z))) < 0.001`` for ``win_patience`` steps in a row: G gets no useful gradient), stops the run
    with a message in ``stopped`` (``win_patience=None``: never stop, for runs compared at equal steps).
    ``d_skip_below`` is passed to :func:`gan_step`. ``state`` (a previous result) continues a run with new
    optimisers. ``g_optimizer="sgd"`` trains G with plain SGD at ``lr_g`` instead (no momentum: each step is
    ``lr_g`` times the gradient, so a vanishing gradient means a vanishing step, which Adam would rescale).
    Returns a namespace: ``hist`` (losses, ``grad_g``, ``p_real``, ``p_fake`` every 5 steps, and the scores),
    ``snaps`` (step -> ``(16, C, H, W)`` in [0, 1]), ``score`` (the last), ``step`` and ``stopped``.
    """
    res = state or SimpleNamespace(hist=History(), snaps={}, score=None, stopped=None, step=0)
    if g_optimizer not in ("adam", "sgd"):
        raise ValueError(f"g_optimizer must be 'adam' or 'sgd', got {g_optimizer!r}.")
    opt_g = (torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999)) if g_optimizer == "adam"
             else torch.optim.SGD(G.parameters(), lr=lr_g))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    G, D = to_channels_last(G, D)

    def observe():
        if score is not None:
            res.score = score(G)
            res.hist.log(res.step, **res.score.row())
        if fixed_z is not None:
            res.snaps[res.step] = sample_images(G, z=fixed_z)

    starved = 0
    try:
        for _ in progress(steps, desc=name, leave=False):
            res.step += 1
            terms = gan_step(G, D, real, opt_g, opt_d, batch_size=batch_size, d_steps=d_steps,
                             real_label=real_label, g_loss=g_loss, augment=augment, d_skip_below=d_skip_below)
            check_finite(res.step, loss_d=terms["loss_d"], loss_g=terms["loss_g"])
            starved = starved + 1 if terms["p_fake"] < 1e-3 else 0
            if win_patience is not None and starved >= win_patience:
                raise TrainingDiverged(f"the discriminator has won: σ(D(G(z))) < 0.001 for {win_patience} steps "
                                       f"(step {res.step}); the generator gets no useful gradient. Lower D's "
                                       "learning rate, use the non-saturating loss, or smooth the labels.")
            if res.step % 5 == 0:
                res.hist.log(res.step, **terms)
            if (eval_every and res.step % eval_every == 0) or res.step == 1:
                observe()
    except TrainingDiverged as err:
        res.stopped = str(err)
        print(f"{name} stopped: {err}")
    observe()
    return res


def progan_step(G, D, real, expand, alpha, opt_g, opt_d, *, batch_size=32, lam=10.0, eps_drift=1e-3):
    """One step of progressive-GAN training (Karras et al. 2018, appendix A.1) at stage ``expand`` with fade-in
    weight ``alpha`` (``-1`` or ``1``: the new block alone), on ``real`` images ``(N, C, S, S)`` in [-1, 1].

    Critic update: a real batch as :func:`stage_reals` shows it at this stage and alpha, fakes from fresh codes,
    ``L_D = E[D(fake)] - E[D(real)] + lam * GP + eps_drift * E[D(real)^2]`` (WGAN-GP on random interpolates, in
    fp32, plus the drift term that keeps the scores near zero). Generator update with the critic frozen:
    ``L_G = -E[D(G(z))]`` on fresh codes. Returns detached scalars: ``loss_d``, ``loss_g``, ``w_dist``
    (``E[D(real)] - E[D(fake)]``) and ``gp`` (the penalty before ``lam``).
    """
    device = real.device
    # --- critic step: WGAN-GP + drift
    set_requires_grad(D, True)
    x = stage_reals(real[torch.randint(len(real), (batch_size,), device=device)], expand, alpha)
    with autocast(device):
        fake = G(torch.randn(batch_size, G.code_dim, device=device), expand, alpha).detach()
        d_real, d_fake = D(x, expand, alpha).float(), D(fake, expand, alpha).float()
    penalty, _ = gradient_penalty(lambda y: D(y, expand, alpha), x, fake.float())  # fp32
    w_dist = d_real.mean() - d_fake.mean()
    loss_d = -w_dist + lam * penalty + eps_drift * d_real.pow(2).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    # --- generator step: the critic is frozen
    set_requires_grad(D, False)
    with autocast(device):
        loss_g = -D(G(torch.randn(batch_size, G.code_dim, device=device), expand, alpha), expand, alpha).float().mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    set_requires_grad(D, True)
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "w_dist": w_dist.detach(), "gp": penalty.detach()}


def train_stage(G, D, real, expand, n_fade, n_stable, *, lam=10.0, eps_drift=1e-3, lr=1e-3, batch_size=32,
                score=None, eval_every=0, state=None, name=None):
    """Train stage ``expand`` of a progressive GAN: ``n_fade`` fade-in steps (alpha = :func:`fade_alpha`, rising
    from 0 towards 1; stage 0 has nothing to fade in), then ``n_stable`` steps at alpha = 1, each a
    :func:`progan_step`; a fresh Adam (``lr``, betas (0, 0.99)) for each network, as in the paper's code.

    ``score(G, expand, alpha)`` (a :class:`~helpers.digit_scores.Coverage`) is logged every ``eval_every`` steps
    and at the end of the fade-in, each time with the alpha of the next step (after the fade: 1, the new block
    alone); the terms and alpha every 5 steps. ``state`` (a namespace with ``hist`` and ``step``) carries the
    history and the global step across stages; returns it, with ``faded[expand]``: the score at the end of the
    fade-in (the first moment the new block works alone).
    """
    st = state or SimpleNamespace(hist=History(), step=0)
    st.faded = getattr(st, "faded", {})
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.0, 0.99), eps=1e-8)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.0, 0.99), eps=1e-8)
    size = 4 * 2**expand
    for i in progress(n_fade + n_stable, desc=name or f"{size}x{size}", leave=False):
        st.step += 1
        alpha = fade_alpha(i, n_fade) if expand > 0 else 1.0  # alpha = 1: the new block alone
        terms = progan_step(G, D, real, expand, alpha, opt_g, opt_d, batch_size=batch_size, lam=lam,
                            eps_drift=eps_drift)
        check_finite(st.step, loss_d=terms["loss_d"], loss_g=terms["loss_g"])
        if st.step % 5 == 0 or i == 0:
            st.hist.log(st.step, **terms, alpha=alpha, stage=expand)
        faded = i + 1 == n_fade and expand > 0  # from the next step on, the new block works alone
        if score is not None and (faded or (eval_every and (i + 1) % eval_every == 0)):
            sc = score(G, expand, fade_alpha(i + 1, n_fade) if expand > 0 else 1.0)
            st.hist.log(st.step, **sc.row())
            if faded:
                st.faded[expand] = sc
    return st

