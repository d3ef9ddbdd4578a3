"""Every notebook has the same shape: the one Colab cell, one set-up call, markdown without run numbers, and a
closing "Measured answer" whose headline claims hold in the committed (quick-profile) outputs."""
import re
from pathlib import Path

import nbformat
import pytest

from helpers.claims import MIME_TYPE
from helpers.notebook import COLAB_CELL

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
UNITS = r"(?:dB|%|classes|s|min|ms|steps)"
#: A decimal number, or a number (with optional thousands separators) followed by a unit.
RUN_NUMBER = re.compile(rf"(?<![\w.^{{])\d+\.\d+(?![\w.])|(?<![\w.])\d[\d,]*(?:\.\d+)?\s?{UNITS}(?![\w])")
#: Constants allowed in each notebook's markdown (hyperparameters, cited paper values), with why.
ALLOWED_NUMBERS: dict[str, set[str]] = {
    "01": set(),
    "02": {"0.1",  # BatchNorm's default momentum (the course's)
           "90 %"},  # the 10-90 % rise width's definition
    "03": set(),
    "04": {"0.01",  # the course's adversarial weight and LeakyReLU slope
           "0.5", "0.9"},  # Adam betas of the WGAN-GP paper
    "05": {"80 %", "20 %",  # the train / held-out split
           "0.5", "0.2", "0.02", "0.9", "1.0"},  # confidence threshold, LeakyReLU slope, init std, labels
    "06": {"0.2", "0.5", "0.999",  # LeakyReLU slope, dropout, Adam betas (the paper)
           "3.3",  # Isola et al. section number
           "54.4",  # unet_256's parameter count in millions (the reference code)
           "1 %"},  # the texture distance's floor (a fraction of the truth's power)
    "07": {"0.5", "0.85", "0.75", "1.8"},  # the grading's tone-curve constants; 0.5 also λ_id / λ_cyc and Adam β₁
    "08": {"0.6", "1.6", "0.01", "0.04",  # ranges of the real-world degradation (blur σ, noise σ)
           "1.0", "0.02",  # the guessed degradation's fixed blur and noise
           "0.5", "0.25",  # the hand-computed gradient-TV example
           "0.9", "0.999"},  # Adam betas
    "09": set(),
    "10": {"80 %", "20 %", "0.5", "0.2",  # split, confidence threshold, LeakyReLU slope (as in 05)
           "4.1", "4.2",  # Karras et al. section numbers
           "0.99", "0.001", "0.999"},  # Adam beta2, drift weight, EMA decay (the paper)
    "11": set(),
}


def _cells(path: Path, kind: str) -> list[nbformat.NotebookNode]:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == kind]


def run_numbers(text: str) -> list[str]:
    """Run-dependent-looking numbers in a markdown text; lines starting with ``**Budget**`` (the notebook's
    stated time budget) are exempt."""
    kept = "\n".join(line for line in text.splitlines() if not line.lstrip("# ").startswith("**Budget**"))
    return [m.group(0) for m in RUN_NUMBER.finditer(kept)]


def test_the_number_pattern():
    assert run_numbers("PSNR 28.72 dB and 16.7") == ["28.72", "16.7"]
    assert run_numbers("covers 10 classes in 45 s, 3 % off, 1,000 steps") == ["10 classes", "45 s", "3 %",
                                                                               "1,000 steps"]
    assert run_numbers("**Budget** (2 CPU cores): `quick` under 5 min") == []
    assert run_numbers("conv4_2, relu3_3, 4x, x^{0.5}, Adam(2e-4), 70x70 patches, step 3") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_holds_no_run_numbers(path):
    allowed = ALLOWED_NUMBERS[path.name[:2]]
    found = [n for c in _cells(path, "markdown") for n in run_numbers(c.source) if n not in allowed]
    assert not found, (f"{path.name}: run-dependent numbers in markdown cells {found}: print them from code or "
                       "make them claims; a constant (hyperparameter, cited value) goes into ALLOWED_NUMBERS")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_colab_cell_is_the_same_everywhere(path):
    assert _cells(path, "code")[0].source.strip() == COLAB_CELL.strip(), \
        f"{path.name}: the first code cell must be helpers.notebook.COLAB_CELL"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_setup_call_names_the_notebook(path):
    code = "\n".join(c.source for c in _cells(path, "code"))
    calls = re.findall(r"helpers\.setup\(\s*\"([\w]+)\"", code)
    assert calls == [path.stem], f"{path.name}: call helpers.setup(\"{path.stem}\", profile, run_dir, seed) once"
    assert "helpers.get_profile(" not in code and "helpers.output_dir(run_dir, \"" + path.stem not in code


def committed_claims(path: Path) -> list[dict]:
    """The claims in a committed notebook's "Measured answer" output."""
    found = [o["data"][MIME_TYPE]["claims"] for c in _cells(path, "code") for o in c.outputs
             if o.get("output_type") in ("display_data", "execute_result") and MIME_TYPE in o.get("data", {})]
    return found[-1] if found else []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_headline_claims_hold(path):
    """CI sees a lesson that broke: the committed outputs are a quick-profile run (make notebooks)."""
    claims = committed_claims(path)
    assert claims, f"{path.name}: no Measured answer (helpers.claims.answer) in the committed outputs"
    broken = [f"{c['name']}: {c['subject']} {c['value']:.4g} vs {c['control']} {c['control_value']:.4g} "
              f"({c['measure']}, margin {c['margin']:.3g} ± {c['spread']:.3g}, {c['verdict']})"
              for c in claims if c["kind"] == "headline" and not c["holds"]]
    assert not broken, f"{path.name}: headline claims that do not hold in the committed run: {broken}"
