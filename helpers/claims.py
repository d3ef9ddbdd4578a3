"""A notebook's lesson as data: claims computed from the run, recorded and shown as its "Measured answer".

A claim compares a *subject* (the model or method the lesson is about) with a *control* that could win (the
same model without the ingredient, bicubic, a per-class mean, noise matched in power) on one measure::

    c = compare("pixelshuffle_beats_bicubic", "PixelShuffle MSE beats bicubic on held-out PSNR-Y",
                measure="PSNR-Y (dB)", subject="PixelShuffle MSE", values=[30.1, 28.4, 29.9],
                control="bicubic", control_values=[29.0, 27.9, 28.6], basis="equal steps (600)")

``values`` and ``control_values`` are one number each or paired samples (per held-out image, per training
seed). The *margin* is the mean paired difference, signed so that positive favours the subject; the *spread*
is the standard deviation of the paired differences (0 for single numbers). The verdict is

* ``"holds"`` when ``margin > max(min_margin, spread)``,
* ``"tie"`` when ``|margin| <= max(min_margin, spread)`` (a difference inside the spread is not a win),
* ``"fails"`` otherwise (the control wins by more than the spread).

Two kinds: ``"headline"`` claims are the notebook's lesson and must hold (``make run`` fails otherwise; they
cannot be waived), ``"observation"`` claims are reported, not enforced. ``source`` says whether the claim was
computed on the live model of this run or on a long-trained reference model.

:func:`record` writes the claims and the machine (CPU, instruction set, torch threads) into the notebook's
``metrics.json`` under ``claims``; :func:`show` renders them as Markdown. :func:`answer` does both and is the
last cell of every notebook. The rendered output also carries the claims as JSON (MIME type
:data:`MIME_TYPE`), so a test can check the committed notebooks' verdicts without running them.
"""
from __future__ import annotations

import math
import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

KINDS = ("headline", "observation")
SOURCES = ("live", "reference")
VERDICTS = ("holds", "tie", "fails")
MIME_TYPE = "application/vnd.srgan-notebooks.claims+json"


@dataclass(frozen=True)
class Claim:
    """One computed check of a lesson; build it with :func:`compare` or :func:`at_least`."""

    name: str  # identifier, unique within the notebook (snake_case)
    statement: str  # what is claimed, in words, without the numbers
    measure: str  # what is compared, with its unit, e.g. "PSNR-Y (dB)"
    subject: str
    value: float  # the subject's mean
    control: str
    control_value: float  # the control's mean (or the bar)
    higher_is_better: bool
    margin: float  # mean paired difference, positive = the subject is better
    spread: float  # std of the paired differences (0 for single numbers)
    n: int  # number of paired samples
    min_margin: float
    verdict: str  # "holds" | "tie" | "fails"
    kind: str = "headline"
    source: str = "live"
    basis: str = ""  # what was held equal: "equal steps (300)", "same 3 held-out photos", ...

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"

    def as_dict(self) -> dict:
        return {**asdict(self), "holds": self.holds}


def _floats(x: float | Sequence[float] | torch.Tensor) -> list[float]:
    if isinstance(x, torch.Tensor):
        return [float(v) for v in x.detach().flatten()]
    if isinstance(x, Iterable) and not isinstance(x, (str, bytes)):
        return [float(v) for v in x]
    return [float(x)]


def _check(name: str, kind: str, source: str, values: list[float]) -> None:
    if kind not in KINDS:
        raise ValueError(f"Claim {name!r}: kind must be one of {KINDS}, got {kind!r}.")
    if source not in SOURCES:
        raise ValueError(f"Claim {name!r}: source must be one of {SOURCES}, got {source!r}.")
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"Claim {name!r}: the values must be finite numbers, got {values}; "
                         "a NaN here means the run itself failed (check its training losses).")


def verdict(margin: float, spread: float, min_margin: float = 0.0) -> str:
    """``"holds"`` if ``margin > max(min_margin, spread)``, ``"tie"`` if ``|margin|`` is within it, else ``"fails"``."""
    bound = max(min_margin, spread)
    if margin > bound:
        return "holds"
    return "tie" if margin >= -bound else "fails"


def compare(name: str, statement: str, *, measure: str, subject: str, values: float | Sequence[float],
            control: str, control_values: float | Sequence[float], higher_is_better: bool = True,
            min_margin: float = 0.0, kind: str = "headline", source: str = "live", basis: str = "") -> Claim:
    """A claim that ``subject`` beats ``control`` on ``measure``.

    ``values`` / ``control_values``: one number each, or paired samples of equal length (per image, per seed).
    ``min_margin`` (in the measure's unit, >= 0) is the smallest difference that counts as a win.
    """
    a, b = _floats(values), _floats(control_values)
    _check(name, kind, source, a + b)
    if len(a) != len(b):
        raise ValueError(f"Claim {name!r}: {len(a)} values against {len(b)} control values; pair them "
                         "(the same images or seeds for both).")
    if min_margin < 0:
        raise ValueError(f"Claim {name!r}: min_margin must be >= 0, got {min_margin}.")
    sign = 1.0 if higher_is_better else -1.0
    diffs = [sign * (x - y) for x, y in zip(a, b)]
    margin = sum(diffs) / len(diffs)
    spread = math.sqrt(sum((d - margin) ** 2 for d in diffs) / (len(diffs) - 1)) if len(diffs) > 1 else 0.0
    return Claim(name, statement, measure, subject, sum(a) / len(a), control, sum(b) / len(b), higher_is_better,
                 margin, spread, len(a), min_margin, verdict(margin, spread, min_margin), kind, source, basis)


def at_least(name: str, statement: str, *, measure: str, subject: str, values: float | Sequence[float],
             bar: float, bar_name: str, higher_is_better: bool = True, kind: str = "headline",
             source: str = "live", basis: str = "") -> Claim:
    """A claim that ``subject`` reaches a fixed ``bar`` (a target, or a number a control fixes, e.g. "1.0 =
    as far as HR"); the verdict uses the spread of ``values`` around their mean like :func:`compare`."""
    a = _floats(values)
    return compare(name, statement, measure=measure, subject=subject, values=a, control=bar_name,
                   control_values=[bar] * len(a), higher_is_better=higher_is_better, kind=kind, source=source,
                   basis=basis)


def machine() -> dict[str, str | int]:
    """The machine the claims were computed on: CPU model, instruction set, torch threads and version."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "instruction_set": torch.backends.cpu.get_cpu_capability(),
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count() or 0,
            "torch": torch.__version__.split("+")[0]}


def record(out_dir: str | os.PathLike, claims: Sequence[Claim]) -> Path:
    """Write ``claims`` and :func:`machine` into ``<out_dir>/metrics.json`` (keys ``claims``, ``machine``)."""
    from .results import write_metrics

    names = [c.name for c in claims]
    if len(set(names)) != len(names):
        raise ValueError(f"Claim names must be unique within a notebook, got {names}.")
    return write_metrics(out_dir, claims=[c.as_dict() for c in claims], machine=machine())


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.1f}"


MARK = {"holds": "✅ holds", "tie": "🟰 tie", "fails": "❌ fails"}


def markdown(claims: Sequence[Claim], title: str = "Measured answer") -> str:
    """The claims as a Markdown table: claim, subject vs control, margin ± spread, verdict, kind and source."""
    rows = [f"### {title}", "",
            "| | claim | measure | subject | control | margin ± spread | verdict |",
            "|---|---|---|---|---|---|---|"]
    for i, c in enumerate(claims, 1):
        better = "higher" if c.higher_is_better else "lower"
        spread = f" ± {_num(c.spread)} (n={c.n})" if c.n > 1 else ""
        kind = "**headline**" if c.kind == "headline" else "observation"
        basis = f"; {c.basis}" if c.basis else ""
        rows.append(f"| {i} | {c.statement} <br><sub>{kind}, {c.source} model{basis}</sub> | {c.measure} "
                    f"({better} is better) | {c.subject}: {_num(c.value)} | {c.control}: {_num(c.control_value)} | "
                    f"{_num(c.margin)}{spread} | {MARK[c.verdict]} |")
    broken = [c.name for c in claims if c.kind == "headline" and not c.holds]
    rows += ["", (f"**Headline claims that do not hold in this run: {', '.join(broken)}.**" if broken
                  else "Every headline claim holds in this run.")]
    return "\n".join(rows)


def show(claims: Sequence[Claim], title: str = "Measured answer") -> None:
    """Display the claims as Markdown, with the claims' data under :data:`MIME_TYPE` for tests."""
    from IPython.display import display

    display({"text/markdown": markdown(claims, title), "text/plain": markdown(claims, title),
             MIME_TYPE: {"claims": [c.as_dict() for c in claims]}}, raw=True)


def answer(out_dir: str | os.PathLike, *claims: Claim) -> None:
    """Record ``claims`` in the notebook's ``metrics.json`` and show them as its "Measured answer" (returns
    nothing, so the last line of a cell adds no echo under the table)."""
    record(out_dir, claims)
    show(claims)
