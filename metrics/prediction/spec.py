"""What a prediction model is asked to predict, from a predictive KPI's cleaned parameters.

Two KPIs with the same target and the same parameters share their models: a model is stored under the key
of its spec, and that key also names the feature set, so a change of the features retires old models.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date

# The learners, named here rather than in training (which loads scikit-learn): pages that only label a model must
# not load the machine-learning stack into every web process (about 100 MB).
LOGISTIC, BOOSTED = "logistic_regression", "gradient_boosting"
ALGORITHMS = (LOGISTIC, BOOSTED)
ALGORITHM_LABELS = {LOGISTIC: "Logistic regression (L2-regularised)", BOOSTED: "Gradient-boosted trees"}

# Bumped whenever a feature's definition changes: models trained on other features are then not reused.
FEATURES_VERSION = 3

RENEWAL, EXPANSION = "renewal", "expansion"
TARGETS = (RENEWAL, EXPANSION)

# Days between two observation dates of the training frame; every window of the features is a multiple of it.
STEP_DAYS = 30
# Without a renewal date (and without a horizon parameter) an account's horizon is this many days.
DEFAULT_HORIZON_DAYS = 90
# Through the next renewal, a model learns from the observations at most this many days before a renewal: the
# months when the signs of a coming decision show. Further out, an account is scored as if its renewal were this
# far away (days to renewal is capped here as a feature), since what happens before then is not visible yet.
RENEWAL_HORIZON_CAP = 180
# The earliest cutoff a model may be trained on: the features count days from 2000-01-01.
EARLIEST_CUTOFF = date(2000, 1, 1)


def cutoff_problem(cutoff: date, *, today: date) -> str | None:
    """What is wrong with a training cutoff (None: nothing): it must be known already, and not before 2000."""
    if cutoff > today:
        return "cannot be in the future"
    if cutoff < EARLIEST_CUTOFF:
        return f"must be on or after {EARLIEST_CUTOFF.isoformat()}"
    return None


@dataclass(frozen=True)
class Spec:
    """A model's question: the target, its horizon and grace, how much history to learn from."""

    target: str
    horizon_days: int | None = None  # None: through the account's next renewal date (or DEFAULT_HORIZON_DAYS)
    grace_days: int = 30
    share: float = 0.10  # expansion: the rise of MRR that counts as expanding
    history_days: int = 730
    min_events: int = 20
    core_features: tuple[str, ...] = field(default_factory=tuple)
    key_feature: str = ""
    activation_events: tuple[str, ...] = field(default_factory=tuple)
    value_event: str = ""

    @property
    def steps(self) -> int:
        """Observation dates in the training frame: the cutoff and every STEP_DAYS before it, over the history."""
        return self.history_days // STEP_DAYS + 1

    def key(self) -> str:
        """A stable key of everything that changes what a model learns (not the cutoff)."""
        payload = {**asdict(self), "features_version": FEATURES_VERSION}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def features_key(self) -> tuple:
        """What an account's features depend on besides the data and the date: two specs alike in these (a
        renewal and an expansion KPI with the same events and horizon) read the same rows."""
        return (self.horizon_days, self.core_features, self.key_feature, self.activation_events, self.value_event)

    def as_json(self) -> dict:
        return {**asdict(self), "core_features": list(self.core_features),
                "activation_events": list(self.activation_events)}

    @property
    def horizon_text(self) -> str:
        if self.horizon_days is None:
            return f"through the next renewal date (or {DEFAULT_HORIZON_DAYS} days without one)"
        return f"{self.horizon_days} days"
