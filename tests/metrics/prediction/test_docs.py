"""docs/prediction.md stays in step with the code: every input the model learns from is documented with its
meaning, and the page is linked from the README and the documentation index."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.prediction.features import FEATURES

ROOT = Path(__file__).resolve().parents[3]
PAGE = (ROOT / "docs" / "prediction.md").read_text()


@pytest.mark.parametrize("feature", FEATURES, ids=[feature.name for feature in FEATURES])
def test_every_input_of_the_model_is_documented_with_its_meaning(feature):
    assert f"| {feature.label} | {feature.group} | {feature.description} |" in PAGE


def test_the_page_is_linked_from_the_readme_and_the_index():
    assert "(docs/prediction.md)" in (ROOT / "README.md").read_text()
    assert "(prediction.md)" in (ROOT / "docs" / "README.md").read_text()
    assert "(prediction.md)" in (ROOT / "docs" / "metrics.md").read_text()
