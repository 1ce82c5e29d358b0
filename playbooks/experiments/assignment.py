"""Which arm an account is in: drawn once, deterministically, and recorded, so that a retry, a second breach
or two workers starting the same playbook at once all read the same arm.

Unstratified: a hash of the experiment and the account, compared with the holdout share (an independent,
reproducible coin per account). Stratified: permuted blocks of BLOCK accounts within each stratum (plan,
region...), the holdout slots of each block picked by a hash, so every stratum is split in the planned
proportion; the block position is counted under a per-stratum advisory lock, so concurrent entries queue.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.db import connection
from django.utils import timezone

from playbooks.models import Arm, Experiment, ExperimentAssignment, ExperimentStatus, Playbook

BLOCK = 20


def _unit(*parts: object) -> float:
    """A number in [0, 1) that only `parts` decide."""
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def hashed_arm(*, experiment_id: int, account_id: int, holdout_share: float) -> str:
    return Arm.HOLDOUT if _unit(experiment_id, account_id) < holdout_share else Arm.TREATED


def holdout_slots(holdout_share: float) -> int:
    """Holdout places in each block of BLOCK: the share rounded to a twentieth, at least one."""
    return max(1, round(holdout_share * BLOCK))


def blocked_arm(*, experiment_id: int, stratum: str, position: int, holdout_share: float) -> str:
    """The arm of the stratum's `position`-th account (0-based): within each block the slots are ordered by a
    hash of the block, and the first `holdout_slots` of that order are held out."""
    block, slot = divmod(position, BLOCK)
    order = sorted(range(BLOCK), key=lambda place: _unit(experiment_id, stratum, block, place))
    return Arm.HOLDOUT if slot in order[:holdout_slots(holdout_share)] else Arm.TREATED


def assignment_record(*, experiment: Experiment, account, now: datetime | None = None) -> str:
    """The account's arm in the experiment, drawn and stored on first call, read back on every later one."""
    stored = ExperimentAssignment.objects.filter(experiment=experiment, account=account).values_list(
        "arm", flat=True).first()
    if stored is not None:
        return stored
    now = now or timezone.now()
    stratum = str(getattr(account, experiment.stratify_by) or "") if experiment.stratify_by else ""
    with connection.cursor() as cursor:
        if experiment.stratify_by:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [experiment.pk, stratum])
            position = ExperimentAssignment.objects.filter(experiment=experiment, stratum=stratum).count()
            arm = blocked_arm(experiment_id=experiment.pk, stratum=stratum, position=position,
                              holdout_share=experiment.holdout_share)
        else:
            arm = hashed_arm(experiment_id=experiment.pk, account_id=account.pk,
                             holdout_share=experiment.holdout_share)
        cursor.execute(
            f"INSERT INTO {ExperimentAssignment._meta.db_table} "
            "(experiment_id, account_id, arm, stratum, assigned_at, entered_on) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (experiment_id, account_id) DO NOTHING RETURNING arm",
            [experiment.pk, account.pk, arm, stratum, now, timezone.localdate(now)])
        inserted = cursor.fetchone()
    if inserted is not None:
        return inserted[0]
    # Another transaction recorded it first: its arm stands.
    return ExperimentAssignment.objects.filter(experiment=experiment, account=account).values_list(
        "arm", flat=True).get()


def arm_for_run(*, playbook: Playbook, account, now: datetime | None = None) -> str | None:
    """The account's arm in the playbook's running experiment, or None when none runs."""
    experiment = Experiment.objects.filter(playbook=playbook, status=ExperimentStatus.RUNNING).first()
    if experiment is None:
        return None
    return assignment_record(experiment=experiment, account=account, now=now)
