"""Training and storing model versions, and scoring accounts with the version a date may use.

Honest history: a value for date t is made by the newest version whose cutoff is on or before t (trained only on
outcomes known on its cutoff) and not older than the KPI's `retrain_days`; without one, a version is trained now
with cutoff t. So computing past dates (kpi_backfill) is a true back-test.

Fitted models are stored pickled with an HMAC of the bytes under the project's SECRET_KEY, checked before they
are loaded: only bytes this application wrote are ever unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from metrics.inputs import shared_value
from metrics.models import PredictionModel
from metrics.prediction.features import observations
from metrics.prediction.spec import EXPANSION, Spec

logger = logging.getLogger(__name__)
_LOADED: OrderedDict[tuple[str, int], dict] = OrderedDict()
_LOADED_MAX = 16


class PredictionError(Exception):
    """A stored model cannot be used (its bytes do not match their signature)."""


def _digest(blob: bytes) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), blob, hashlib.sha256).hexdigest()


def _bundle(record: PredictionModel) -> dict:
    """The fitted design, model and explainer of a trained version, loaded once per process (keyed by schema:
    ids are per tenant)."""
    key = (connection.schema_name, record.pk)
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    blob = bytes(record.artifact)
    if not hmac.compare_digest(_digest(blob), record.artifact_digest):
        raise PredictionError(f"Model version {record.version} ({record.pk}) failed its signature check.")
    bundle = pickle.loads(blob)  # noqa: S301 - signed above: only bytes this application wrote
    _LOADED[key] = bundle
    if len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)
    return bundle


def _summary(learned) -> dict:
    backtest = learned.backtest
    return {"winner": backtest.winner, "folds": backtest.folds, "pooled": backtest.pooled,
            "calibration_method": learned.model.method, "calibration_rows": learned.model.calibration_rows,
            "calibration_from": learned.model.calibration_from.isoformat() if learned.model.calibration_from
            else None, "fitted_rows": learned.model.fitted_rows,
            "sample": {"accounts": learned.sample.accounts, "of": learned.sample.of, "sampled": learned.sample.sampled}}


def prediction_model_train(*, spec: Spec, cutoff: date, trigger: str, kpi_slug: str = "") -> PredictionModel:
    """Train, back-test and store a new version for `spec` on what was known on `cutoff`. Never raises for the
    data's sake: too little history gives a version with status "insufficient" and the reason, anything else a
    "failed" one (logged), so a scheduled run goes on."""
    # scikit-learn is loaded by the processes that train or score, not by every web process that imports this.
    from metrics.prediction.learning import learn
    from metrics.prediction.training import ALGORITHMS, HYPERPARAMETERS, InsufficientHistory

    started = time.perf_counter()
    fields: dict = {"status": PredictionModel.Status.TRAINED}
    try:
        learned = learn(spec, cutoff)
    except InsufficientHistory as error:
        fields = {"status": PredictionModel.Status.INSUFFICIENT, "reason": str(error)}
    except Exception as error:
        logger.exception("Training the %s model for %s failed", spec.target, cutoff)
        fields = {"status": PredictionModel.Status.FAILED, "reason": f"{type(error).__name__}: {error}"}
    else:
        blob = pickle.dumps({"design": learned.design, "model": learned.model, "explainer": learned.explainer},
                            protocol=pickle.HIGHEST_PROTOCOL)
        fields.update(
            algorithm=learned.model.algorithm, calibration=learned.model.method,
            features=learned.design.columns, hyperparameters=HYPERPARAMETERS[learned.model.algorithm],
            observed_from=learned.observed_from, observed_until=learned.observed_until, rows=learned.rows,
            events=learned.events, censored=learned.censored, metrics=_summary(learned), artifact=blob,
            artifact_digest=_digest(blob))
    with transaction.atomic():
        # One version number per spec: the lock makes two trainings finishing together number themselves in turn.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"prediction:{spec.key()}"])
        latest = PredictionModel.objects.filter(spec_key=spec.key()).aggregate(Max("version"))["version__max"]
        return PredictionModel.objects.create(
            target=spec.target, spec_key=spec.key(), spec=spec.as_json(), version=(latest or 0) + 1, cutoff=cutoff,
            trigger=trigger, kpi_slug=kpi_slug, seconds=time.perf_counter() - started,
            **{"hyperparameters": {algorithm: HYPERPARAMETERS[algorithm] for algorithm in ALGORITHMS}, **fields})


def prediction_model_for(*, spec: Spec, as_of: date, retrain_days: int) -> PredictionModel | None:
    """The version a value for `as_of` may use: the newest whose cutoff is on or before `as_of` and within
    `retrain_days` of it (a version without a model only for its own date: new data may fix it the next day)."""
    candidates = PredictionModel.objects.filter(
        spec_key=spec.key(), cutoff__lte=as_of, cutoff__gt=as_of - timedelta(days=retrain_days),
        status__in=[PredictionModel.Status.TRAINED, PredictionModel.Status.INSUFFICIENT],
    ).order_by("-cutoff", "-version").defer("artifact")
    for candidate in candidates:
        if candidate.status == PredictionModel.Status.TRAINED or candidate.cutoff == as_of:
            return candidate
        return None
    return None


@dataclass
class AccountPrediction:
    account_id: int
    probability: float | None  # of the KPI's outcome (renewing, expanding), 0..1
    details: dict = field(default_factory=dict)


def _not_paying(*, as_of: date, account_ids: Sequence[int] | None) -> list[int]:
    """Accounts started by `as_of` with no revenue recorded on or before it: they get a null with the reason."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id FROM accounts_account a
            WHERE (a.start_date IS NULL OR a.start_date <= %(as_of)s)
              AND (%(ids)s::bigint[] IS NULL OR a.id = ANY(%(ids)s::bigint[]))
              AND NOT EXISTS (SELECT FROM accounts_revenuesnapshot r WHERE r.account_id = a.id AND r.month <= %(as_of)s)
            """, {"as_of": as_of, "ids": list(account_ids) if account_ids is not None else None})
        return [account_id for (account_id,) in cursor.fetchall()]


# Accounts scored and explained at a time: a 100,000-account tenant's predictions never sit in memory as Python
# objects all at once (each chunk is turned into JSON text by its reader before the next is made).
CHUNK = 5_000


def account_predictions(*, spec: Spec, as_of: date, retrain_days: int, account_ids: Sequence[int] | None = None,
                        kpi_slug: str = "") -> Iterator[list[AccountPrediction]]:
    """Every paying account's probability on `as_of` with its drivers, by the version that date may use (trained
    now if there is none), in chunks of at most CHUNK accounts; nulls with the reason when the history cannot
    support a model. Its queries all run before the first chunk is handed out."""
    from metrics.prediction.explain import drivers
    from metrics.prediction.training import one_thread

    record = prediction_model_for(spec=spec, as_of=as_of, retrain_days=retrain_days)
    if record is None:
        record = prediction_model_train(spec=spec, cutoff=as_of, trigger=PredictionModel.Trigger.COMPUTE,
                                        kpi_slug=kpi_slug)
    trained = record.status == PredictionModel.Status.TRAINED
    # The features are read only when a model will score them, and once per run for the KPIs that share them
    # (renewal and expansion read the same rows); without a model only MRR, renewal and horizon are needed.
    ids = None if account_ids is None else tuple(sorted(account_ids))
    rows = shared_value(
        ("prediction-observations", connection.schema_name, as_of, ids, spec.features_key(), trained),
        lambda: observations(spec=spec, cutoff=as_of, steps=1, account_ids=ids, with_labels=False,
                             with_features=trained))
    not_paying = _not_paying(as_of=as_of, account_ids=account_ids)
    # Every query is made before the first chunk: a reader may stream the chunks into a COPY on this connection.
    bundle = _bundle(record) if trained and len(rows) else None
    for start in range(0, len(not_paying), CHUNK):
        yield [AccountPrediction(account_id, None, {"reason": f"No revenue recorded on or before {as_of}."})
               for account_id in not_paying[start:start + CHUNK]]
    model_facts = {"model_id": record.pk, "model_version": record.version, "model_cutoff": record.cutoff.isoformat()}
    arr = 12 * rows.mrr
    account_list = rows.account_ids.tolist()

    def common(index: int) -> dict:
        renewal = rows.next_renewal[index]
        return {"horizon_days": int(rows.horizon_days[index]), "arr": float(arr[index]),
                "renewal_date": None if np.isnat(renewal) else str(renewal),
                "through_renewal": spec.horizon_days is None and not np.isnat(renewal)}

    if not trained:
        reason = record.reason or "No model could be trained."
        for start in range(0, len(rows), CHUNK):
            yield [AccountPrediction(account_list[index], None, {**common(index), **model_facts, "reason": reason})
                   for index in range(start, min(start + CHUNK, len(rows)))]
        return
    if not len(rows):
        return
    design, model, explainer = bundle["design"], bundle["model"], bundle["explainer"]
    matrix = design.matrix(rows)
    sign = 1.0 if spec.target == EXPANSION else -1.0
    model_facts["algorithm"] = record.algorithm
    for start in range(0, len(rows), CHUNK):
        part = matrix[start:start + CHUNK]
        with one_thread():
            target_probability = model.probability(part)
            explained, baseline = drivers(model=model, design=design, explainer=explainer, matrix=part,
                                          probability=target_probability, sign=sign)
        probability = target_probability if sign > 0 else 1 - target_probability
        model_facts["baseline"] = round(baseline, 1)
        yield [AccountPrediction(account_list[start + offset], float(probability[offset]), {
            **common(start + offset), **model_facts, "probability": round(float(probability[offset]), 6),
            "expected_arr": round(float(probability[offset] * arr[start + offset]), 2),
            "drivers": explained[offset]})
            for offset in range(len(part))]
