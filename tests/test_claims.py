"""helpers.claims: verdicts from margins and spreads, the metrics.json record and the rendered answer."""
import json
import math

import pytest
import torch

from helpers import claims
from helpers.claims import MIME_TYPE, at_least, compare, verdict


def test_verdict_bounds():
    assert verdict(0.5, 0.2) == "holds"
    assert verdict(0.2, 0.2) == "tie"  # exactly the spread is not a win
    assert verdict(-0.2, 0.2) == "tie"
    assert verdict(-0.21, 0.2) == "fails"
    assert verdict(0.3, 0.0, min_margin=0.5) == "tie"
    assert verdict(0.6, 0.0, min_margin=0.5) == "holds"


def test_compare_paired_margin_and_spread():
    c = compare("a", "A beats B", measure="PSNR-Y (dB)", subject="A", values=[30.0, 28.0, 29.0],
                control="B", control_values=[29.0, 27.5, 27.0])
    diffs = [1.0, 0.5, 2.0]
    assert c.margin == pytest.approx(sum(diffs) / 3)
    assert c.spread == pytest.approx(math.sqrt(sum((d - 7 / 6) ** 2 for d in diffs) / 2))
    assert c.value == pytest.approx(29.0) and c.control_value == pytest.approx(83.5 / 3)
    assert c.n == 3 and c.verdict == "holds" and c.holds


def test_lower_is_better_flips_the_sign():
    c = compare("d", "A is nearer", measure="VGG-dist", subject="A", values=torch.tensor([0.1, 0.2]),
                control="B", control_values=[0.3, 0.4], higher_is_better=False)
    assert c.margin == pytest.approx(0.2) and c.holds
    worse = compare("d", "A is nearer", measure="VGG-dist", subject="A", values=[0.5, 0.6],
                    control="B", control_values=[0.3, 0.4], higher_is_better=False)
    assert worse.margin == pytest.approx(-0.2) and worse.verdict == "fails"


def test_a_difference_inside_the_spread_is_a_tie():
    c = compare("t", "A beats B", measure="x", subject="A", values=[1.0, 3.0, 0.0], control="B",
                control_values=[0.0, 0.0, 1.0])
    assert c.margin == pytest.approx(1.0) and c.spread > 1.0 and c.verdict == "tie"


def test_at_least_uses_the_bar_for_every_sample():
    c = at_least("cov", "covers the classes", measure="classes", subject="G", values=[10, 9, 10], bar=8,
                 bar_name="bar 8")
    assert c.control_value == 8 and c.margin == pytest.approx(29 / 3 - 8) and c.holds


@pytest.mark.parametrize("kwargs,match", [
    ({"values": [1.0, float("nan")], "control_values": [0.0, 0.0]}, "finite"),
    ({"values": [1.0, 2.0], "control_values": [0.0]}, "pair them"),
    ({"values": 1.0, "control_values": 0.0, "kind": "lesson"}, "kind"),
    ({"values": 1.0, "control_values": 0.0, "source": "paper"}, "source"),
    ({"values": 1.0, "control_values": 0.0, "min_margin": -1}, "min_margin"),
])
def test_bad_claims_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare("x", "s", measure="m", subject="a", control="b", **kwargs)


def test_record_writes_claims_and_machine(tmp_path):
    c1 = compare("a", "A beats B", measure="m", subject="A", values=2.0, control="B", control_values=1.0)
    c2 = compare("b", "C beats B", measure="m", subject="C", values=0.0, control="B", control_values=1.0,
                 kind="observation", source="reference")
    claims.record(tmp_path, [c1, c2])
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert [c["name"] for c in data["claims"]] == ["a", "b"]
    assert data["claims"][0]["holds"] is True and data["claims"][1]["verdict"] == "fails"
    assert data["claims"][1]["source"] == "reference" and data["claims"][1]["kind"] == "observation"
    assert data["machine"]["torch_threads"] == torch.get_num_threads() and data["machine"]["cpu"]
    with pytest.raises(ValueError, match="unique"):
        claims.record(tmp_path, [c1, c1])


def test_markdown_names_every_claim_and_the_broken_headlines():
    ok = compare("ok", "A beats B", measure="m", subject="A", values=2.0, control="B", control_values=1.0)
    bad = compare("bad", "C beats B", measure="m", subject="C", values=0.0, control="B", control_values=1.0)
    obs = compare("obs", "D beats B", measure="m", subject="D", values=0.0, control="B", control_values=1.0,
                  kind="observation")
    text = claims.markdown([ok, bad, obs])
    assert "A beats B" in text and "✅ holds" in text and "❌ fails" in text
    assert "do not hold in this run: bad." in text
    assert "Every headline claim holds" in claims.markdown([ok, obs])


def test_answer_displays_markdown_with_the_claims_as_json(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    c = compare("a", "A beats B", measure="m", subject="A", values=2.0, control="B", control_values=1.0)
    assert claims.answer(tmp_path, c) is None
    assert shown[0][MIME_TYPE]["claims"][0]["name"] == "a"
    assert shown[0]["text/markdown"].startswith("### Measured answer")
