"""Every write of the quarterly review: creating it with its frozen KPI snapshot, running and closing it
(which applies its target changes), and its decisions, kept in step with their tasks in the owner's inbox.

A closed review is read-only; its decisions keep moving (progress, status) until they are done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from functools import partial

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from metrics.bounds import YEARS_AHEAD, value_check
from metrics.models import KPI, KPITarget, MetricValue, Scope
from metrics.segments import DIMENSIONS
from metrics.services import kpi_target_set
from metrics.status import target_status
from metrics.templatetags.metrics_tags import kpi_value
from playbooks.models import ACTIVE_TASK_STATUSES, StepKind, Task, TaskEvent, TaskOutcome, TaskStatus
from reviews.models import (
    ACTIVE_DECISION_STATUSES,
    UNFINISHED_DECISION_STATUSES,
    Decision,
    DecisionKind,
    DecisionReminder,
    DecisionStatus,
    DecisionUpdate,
    ReminderKind,
    Review,
    ReviewKPI,
    ReviewStatus,
    Trend,
)
from reviews.quarters import BadQuarter, next_quarter, previous_quarter, quarter_bounds
from tenants.tasks import on_commit_in_tenant
from users.models import User

logger = logging.getLogger(__name__)

# A change smaller than this share of the previous value is no trend at all.
STEADY_TOLERANCE = 0.01
WEEK_REMINDER_DAYS = 7
DAY_REMINDER_DAYS = 1


class ReviewError(Exception):
    """A review or decision change that cannot be made as asked; the message says why, `status_code` says
    whether it is bad input (400) or conflicts with the review's state (409), `field` what to fix."""

    def __init__(self, message: str, *, status_code: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.field = field


def _writable(review: Review) -> None:
    if review.is_closed:
        raise ReviewError(f"The {review} is closed and read-only: nothing in it can be edited. Follow its "
                          "decisions up with progress updates.", status_code=409)


def _full_clean(instance, **kwargs) -> None:
    try:
        instance.full_clean(**kwargs)
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items())) if hasattr(error, "message_dict") else (
            None, error.messages)
        raise ReviewError(f"{field}: {messages[0]}" if field and field != "__all__" else messages[0],
                          field=None if field == "__all__" else field) from None


# --- the review and its snapshot ---------------------------------------------------------------------------


@transaction.atomic
def review_create(*, quarter: str, created_by: User | None, name: str = "", meeting_date: date | None = None,
                  facilitator: User | None = None, attendees: Iterable[User] = (), extra_kpis: Sequence[KPI] = (),
                  segment_dimensions: Sequence[str] = ()) -> Review:
    """Plan the quarter's review and freeze its KPI snapshot: every active KPI flagged for review plus the
    `extra_kpis` a leader adds, for the portfolio and the segments of `segment_dimensions`."""
    try:
        quarter_bounds(quarter)
    except BadQuarter as error:
        raise ReviewError(str(error), field="quarter") from None
    unknown = sorted(set(segment_dimensions) - set(DIMENSIONS))
    if unknown:
        raise ReviewError(f"Unknown segment dimension(s) {', '.join(unknown)}; use {', '.join(DIMENSIONS)}.",
                          field="segment_dimensions")
    name = name.strip()
    if Review.objects.filter(quarter=quarter, name=name).exists():
        raise ReviewError(f"There is already a review of {quarter}" + (f" named {name!r}" if name else "")
                          + "; give this one a name of its own.", status_code=409, field="name")
    review = Review(quarter=quarter, name=name, meeting_date=meeting_date, facilitator=facilitator,
                    created_by=created_by)
    _full_clean(review, validate_constraints=False)
    review.save()
    review.attendees.set(list(attendees))
    kpis = KPI.objects.filter(Q(in_review=True, is_active=True) | Q(pk__in=[kpi.pk for kpi in extra_kpis]))
    ReviewKPI.objects.bulk_create(snapshot_rows(review=review, kpis=list(kpis), dimensions=segment_dimensions))
    return review


def _trend(value: float | None, previous: float | None, direction: str) -> str:
    if value is None or previous is None:
        return Trend.UNKNOWN
    change = value - previous
    if abs(change) <= max(abs(previous) * STEADY_TOLERANCE, 1e-9):
        return Trend.STEADY
    return Trend.IMPROVING if (change > 0) == (direction == "higher") else Trend.WORSENING


def _latest_values(kpis: Sequence[KPI], start: date, end: date, dimensions: Sequence[str]
                   ) -> dict[tuple[int, str, str], MetricValue]:
    """Each KPI's last portfolio (and segment) value within the quarter, one query."""
    subjects = Q(scope=Scope.PORTFOLIO) | Q(scope=Scope.SEGMENT, dimension__in=list(dimensions))
    rows = (MetricValue.objects.filter(subjects, kpi__in=kpis, as_of__gte=start, as_of__lte=end)
            .order_by("kpi_id", "dimension", "segment", "-as_of").distinct("kpi_id", "dimension", "segment")
            .only("kpi_id", "kpi_version", "dimension", "segment", "as_of", "value"))
    return {(row.kpi_id, row.dimension, row.segment): row for row in rows}


def snapshot_rows(*, review: Review, kpis: Sequence[KPI], dimensions: Sequence[str] = ()) -> list[ReviewKPI]:
    """The snapshot of `kpis` for the review's quarter (unsaved rows): value at the quarter's end (the last
    computed within it), the quarter's target (a segment's own, else the portfolio's), the previous quarter's
    value, the trend and the status by the one target rule. Three queries whatever the number of KPIs."""
    start, end = quarter_bounds(review.quarter)
    before_start, before_end = quarter_bounds(previous_quarter(review.quarter))
    current = _latest_values(kpis, start, end, dimensions)
    previous = _latest_values(kpis, before_start, before_end, dimensions)
    targets = {(kpi_id, dimension, segment): value for kpi_id, dimension, segment, value in KPITarget.objects.filter(
        kpi__in=kpis, period=review.quarter, superseded_at__isnull=True).values_list(
        "kpi_id", "dimension", "segment", "value")}
    by_id = {kpi.pk: kpi for kpi in kpis}
    subjects = sorted({(kpi.pk, "", "") for kpi in kpis} | set(current))
    rows = []
    for kpi_id, dimension, segment in subjects:
        kpi = by_id[kpi_id]
        point = current.get((kpi_id, dimension, segment))
        before = previous.get((kpi_id, dimension, segment))
        value = point.value if point else None
        target = targets.get((kpi_id, dimension, segment), targets.get((kpi_id, "", "")))
        rows.append(ReviewKPI(
            review=review, kpi=kpi, kpi_version=point.kpi_version if point else kpi.version,
            dimension=dimension, segment=segment, as_of=point.as_of if point else None, value=value,
            target=target, previous_value=before.value if before else None,
            trend=_trend(value, before.value if before else None, kpi.direction),
            status=target_status(value=value, target=target, direction=kpi.direction),
        ))
    return rows


@transaction.atomic
def review_update(*, review: Review, user: User | None, **fields) -> Review:
    """Change the review's name, meeting date, facilitator or attendees, while it is not closed."""
    review = Review.objects.select_for_update().get(pk=review.pk)
    _writable(review)
    attendees = fields.pop("attendees", None)
    if "name" in fields:
        fields["name"] = fields["name"].strip()
        if Review.objects.filter(quarter=review.quarter, name=fields["name"]).exclude(pk=review.pk).exists():
            raise ReviewError(f"There is already a review of {review.quarter} with that name.", status_code=409,
                              field="name")
    for name, value in fields.items():
        setattr(review, name, value)
    _full_clean(review, validate_constraints=False)
    review.save()
    if attendees is not None:
        review.attendees.set(list(attendees))
    return review


@transaction.atomic
def review_kpi_comment(*, row: ReviewKPI, user: User | None, commentary: str) -> ReviewKPI:
    """Why a KPI stands where it does: the one part of the snapshot people write, until the review closes."""
    _writable(Review.objects.select_for_update().get(pk=row.review_id))
    row.commentary = commentary.strip()
    row.commentary_by = user
    row.save(update_fields=["commentary", "commentary_by"])
    return row


def review_start(*, review: Review, user: User | None, now: datetime | None = None) -> Review:
    """The meeting begins. Compare-and-set: starting twice, or a closed review, is a conflict."""
    if not Review.objects.filter(pk=review.pk, status=ReviewStatus.PLANNED).update(
            status=ReviewStatus.IN_PROGRESS, started_at=now or timezone.now()):
        review.refresh_from_db()
        _writable(review)
        raise ReviewError(f"The {review} is already {review.get_status_display().lower()}.", status_code=409)
    review.refresh_from_db()
    return review


@transaction.atomic
def review_close(*, review: Review, user: User | None, now: datetime | None = None) -> Review:
    """Close the review: it becomes read-only, and each change of target it decided (not dropped) is applied
    to the KPI's target history with the decision as its reason, and the KPI's owner is told."""
    now = now or timezone.now()
    if not Review.objects.filter(pk=review.pk, status=ReviewStatus.IN_PROGRESS).update(
            status=ReviewStatus.CLOSED, closed_at=now, closed_by=user):
        review.refresh_from_db()
        _writable(review)
        raise ReviewError(f"Start the {review} before closing it.", status_code=409)
    review.refresh_from_db()
    changes = (review.decisions.filter(kind=DecisionKind.CHANGE_TARGET, applied_target__isnull=True)
               .exclude(status=DecisionStatus.DROPPED).select_related("kpi__owner", "review").order_by("id"))
    notices = []
    for decision in changes:
        target = kpi_target_set(kpi=decision.kpi, period=decision.target_period, value=decision.new_target,
                                set_by=user, reason=target_reason(decision))
        Decision.objects.filter(pk=decision.pk).update(applied_target=target)
        if decision.status != DecisionStatus.DONE:
            decision_status_set(decision=decision, status=DecisionStatus.DONE, user=user, now=now,
                                note=f"Target applied on close: {decision.kpi.name} {decision.target_period} = "
                                     f"{decision.new_target:g}.")
        if decision.kpi.owner and decision.kpi.owner.is_active:
            notices.append((decision, target))
    for decision, target in notices:
        # After commit: a close that fails later must not have told anyone of a target it never set.
        on_commit_in_tenant(partial(
            send_mail,
            subject=f"[Bellwether] New target for {decision.kpi.name} ({target.period}): "
                    f"{kpi_value(target.value, decision.kpi.unit)}",
            message=(f"The {review} closed with a decision to change the target of {decision.kpi.name}, which you "
                     f"own, for {target.period} to {kpi_value(target.value, decision.kpi.unit)}.\n\n"
                     f"Why: {target.reason}"),
            from_email=None, recipient_list=[decision.kpi.owner.email],
        ))
    return review


def target_reason(decision: Decision) -> str:
    """The target history's `why`: the decision that changed it, and its rationale."""
    return f"Decision #{decision.pk} of the {decision.review}: {decision.target_rationale or decision.text}"


# --- decisions ---------------------------------------------------------------------------------------------


def _task_due(deadline: date) -> datetime:
    """A decision is due by the end of its deadline day, in the tenant's time zone."""
    return timezone.make_aware(datetime.combine(deadline, time(23, 59, 59)))


def _clean_decision(decision: Decision, today: date, *, deadline_changed: bool, owner_changed: bool) -> None:
    """A new deadline must lie ahead and a new owner be active; unchanged ones are not checked again (the
    deadline may well have passed since)."""
    if not decision.text.strip():
        raise ReviewError("A decision needs its text: what was decided.", field="text")
    if owner_changed and not decision.owner.is_active:
        raise ReviewError(f"{decision.owner} is not an active user and cannot own a decision.", field="owner")
    if deadline_changed and decision.deadline < today:
        raise ReviewError("The deadline cannot be in the past.", field="deadline")
    if deadline_changed and decision.deadline.year > today.year + YEARS_AHEAD:
        raise ReviewError(f"The deadline is in {decision.deadline.year}: choose one by {today.year + YEARS_AHEAD}.",
                          field="deadline")
    if decision.kind in (DecisionKind.CHANGE_TARGET, DecisionKind.RETIRE_KPI, DecisionKind.KEEP_TARGET) \
            and decision.kpi is None:
        raise ReviewError(f"A '{decision.get_kind_display().lower()}' decision names its KPI.", field="kpi")
    if decision.kind == DecisionKind.CHANGE_TARGET:
        if decision.new_target is None:
            raise ReviewError("A change of target needs the new target.", field="new_target")
        try:
            value_check(decision.new_target, unit=decision.kpi.unit, field="new_target", what="A target of")
        except ValidationError as error:
            raise ReviewError(error.message_dict["new_target"][0], field="new_target") from None
        if not decision.target_rationale.strip():
            raise ReviewError("A change of target needs its rationale: why the target changes.",
                              field="target_rationale")
        try:
            quarter_bounds(decision.target_period)
        except BadQuarter as error:
            raise ReviewError(f"target_period: {error}", field="target_period") from None
    _full_clean(decision, exclude=["review", "owner", "kpi", "applied_target", "created_by"],
                validate_constraints=False)


@transaction.atomic
def decision_create(*, review: Review, user: User | None, kind: str, text: str, owner: User, deadline: date,
                    kpi: KPI | None = None, new_target: float | None = None, target_period: str = "",
                    target_rationale: str = "", today: date | None = None) -> Decision:
    """Record a decision of the review (not closed) and put it in its owner's inbox as a task due on the
    deadline. A change of target is for the next quarter unless it names its period."""
    review = Review.objects.select_for_update().get(pk=review.pk)
    _writable(review)
    if kind not in DecisionKind.values:
        raise ReviewError(f"kind must be one of {', '.join(DecisionKind.values)}.", field="kind")
    if kind == DecisionKind.CHANGE_TARGET and not target_period:
        target_period = next_quarter(review.quarter)
    decision = Decision(review=review, kind=kind, text=text.strip(), owner=owner, deadline=deadline, kpi=kpi,
                        new_target=new_target, target_period=target_period if kind == DecisionKind.CHANGE_TARGET
                        else "", target_rationale=target_rationale.strip(), created_by=user)
    _clean_decision(decision, today or timezone.localdate(), deadline_changed=True, owner_changed=True)
    decision.save()
    task = Task.objects.create(
        decision=decision, title=f"Decision: {decision.text}"[:200], kind=StepKind.INTERNAL, assignee=owner,
        instructions=f"Decided in the {review}. Record progress on the review's page; due {deadline:%Y-%m-%d}.",
        severity="medium", due_at=_task_due(deadline), respond_by=_task_due(deadline),
    )
    TaskEvent.objects.create(task=task, kind="created", actor=user, note=f"Decision of the {review}")
    return decision


DEFINITION_FIELDS = ("kind", "text", "kpi", "owner", "deadline", "new_target", "target_period", "target_rationale")


@transaction.atomic
def decision_update(*, decision: Decision, user: User | None, status: str | None = None, note: str = "",
                    today: date | None = None, **fields) -> Decision:
    """Change what was decided, its owner or deadline (while the review is open), and/or its status (at any
    time). The inbox task follows: a new owner gets it, a new deadline moves it, and a missed decision
    given a new deadline is open again."""
    decision = Decision.objects.select_for_update(of=("self",)).select_related("review", "owner", "kpi").get(
        pk=decision.pk)
    today = today or timezone.localdate()
    unknown = set(fields) - set(DEFINITION_FIELDS)
    if unknown:
        raise ReviewError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    fields.update({name: fields[name].strip() for name in ("text", "target_rationale") if name in fields})
    changed = {name: value for name, value in fields.items() if getattr(decision, name) != value}
    if changed:
        _writable(decision.review)
        if decision.applied_target_id:
            raise ReviewError("This decision's target was applied already; record a new decision instead.",
                              status_code=409)
        for name, value in changed.items():
            setattr(decision, name, value)
        if decision.kind != DecisionKind.CHANGE_TARGET:
            decision.new_target, decision.target_period = None, ""
        elif not decision.target_period:
            decision.target_period = next_quarter(decision.review.quarter)
        _clean_decision(decision, today, deadline_changed="deadline" in changed, owner_changed="owner" in changed)
        decision.save()
        task_changes = {}
        if "owner" in changed:
            task_changes["assignee"] = decision.owner
        if "deadline" in changed:
            task_changes["due_at"] = task_changes["respond_by"] = _task_due(decision.deadline)
        if "text" in changed:
            task_changes["title"] = f"Decision: {decision.text}"[:200]
        if task_changes:
            Task.objects.filter(decision=decision).update(**task_changes)
        if "deadline" in changed and decision.status == DecisionStatus.MISSED and decision.deadline >= today:
            decision_status_set(decision=decision, status=DecisionStatus.OPEN, user=user,
                                note=f"New deadline {decision.deadline:%Y-%m-%d}.", by_system=True)
        DecisionUpdate.objects.create(decision=decision, author=user,
                                      note="Changed " + ", ".join(name.replace("_", " ") for name in changed))
    if status is not None and status != decision.status:
        decision_status_set(decision=decision, status=status, user=user, note=note)
    elif note.strip():
        decision_progress_add(decision=decision, user=user, note=note)
    decision.refresh_from_db()
    return decision


# Who may move a decision where by hand: `missed` is set only by the clock, done and dropped are final.
_ALLOWED = {
    DecisionStatus.OPEN: {DecisionStatus.IN_PROGRESS, DecisionStatus.DONE, DecisionStatus.DROPPED},
    DecisionStatus.IN_PROGRESS: {DecisionStatus.OPEN, DecisionStatus.DONE, DecisionStatus.DROPPED},
    DecisionStatus.MISSED: {DecisionStatus.DONE, DecisionStatus.DROPPED},
    DecisionStatus.DONE: set(),
    DecisionStatus.DROPPED: set(),
}


def decision_status_set(*, decision: Decision, status: str, user: User | None, note: str = "",
                        now: datetime | None = None, by_system: bool = False) -> bool:
    """Move the decision to `status` with a dated update, and its task with it (done completes it, dropped
    cancels it, in progress starts it). Compare-and-set on the old status; returns whether it moved."""
    if status not in DecisionStatus.values:
        raise ReviewError(f"status must be one of {', '.join(DecisionStatus.values)}.", field="status")
    current = Decision.objects.filter(pk=decision.pk).values_list("status", flat=True).first()
    allowed = _ALLOWED[current] | ({DecisionStatus.OPEN, DecisionStatus.MISSED} if by_system else set())
    if status not in allowed:
        if status == DecisionStatus.MISSED:
            raise ReviewError("'missed' is set automatically once the deadline passes.", field="status")
        raise ReviewError(f"A {DecisionStatus(current).label.lower()} decision cannot become "
                          f"{DecisionStatus(status).label.lower()}.", status_code=409, field="status")
    now = now or timezone.now()
    with transaction.atomic():
        finished = status in (DecisionStatus.DONE, DecisionStatus.DROPPED)
        if not Decision.objects.filter(pk=decision.pk, status=current).update(
                status=status, completed_at=now if finished else None, updated_at=now):
            return False
        decision.status = status
        DecisionUpdate.objects.create(decision=decision, author=user, note=note.strip(), status=status)
        tasks = Task.objects.filter(decision=decision, status__in=ACTIVE_TASK_STATUSES)
        if status == DecisionStatus.DONE:
            tasks.update(status=TaskStatus.DONE, outcome=TaskOutcome.RESOLVED, completed_at=now,
                         note=note.strip()[:2000])
        elif status == DecisionStatus.DROPPED:
            tasks.update(status=TaskStatus.CANCELLED)
        elif status == DecisionStatus.IN_PROGRESS:
            tasks.filter(status__in=(TaskStatus.OPEN, TaskStatus.SNOOZED)).update(
                status=TaskStatus.IN_PROGRESS, snoozed_until=None)
    return True


def decision_progress_add(*, decision: Decision, user: User | None, note: str,
                          status: str | None = None) -> DecisionUpdate:
    """A dated progress note, optionally moving the status; allowed after the review closed (that is what
    following a decision up means)."""
    if not note.strip():
        raise ReviewError("A progress update needs a note.", field="note")
    with transaction.atomic():
        if status is not None and status != decision.status:
            decision_status_set(decision=decision, status=status, user=user, note=note)
            return decision.updates.order_by("-id").first()
        return DecisionUpdate.objects.create(decision=decision, author=user, note=note.strip())


def decision_follow_task(*, task: Task, user: User | None) -> None:
    """The inbox moved a decision's task: started, completed or reassigned. The decision follows, so the two
    never disagree."""
    decision = Decision.objects.filter(pk=task.decision_id).first()
    if decision is None:
        return
    if task.status == TaskStatus.DONE and decision.status in UNFINISHED_DECISION_STATUSES:
        decision_status_set(decision=decision, status=DecisionStatus.DONE, user=user,
                            note=task.note or "Completed from the task inbox.", now=task.completed_at)
    elif task.status == TaskStatus.IN_PROGRESS and decision.status == DecisionStatus.OPEN:
        decision_status_set(decision=decision, status=DecisionStatus.IN_PROGRESS, user=user,
                            note="Started from the task inbox.")
    if task.assignee_id and task.assignee_id != decision.owner_id:
        Decision.objects.filter(pk=decision.pk).update(owner_id=task.assignee_id)
        DecisionUpdate.objects.create(decision=decision, author=user, note=f"Reassigned to {task.assignee}.")


# --- follow-up: missed, reminders, overdue -------------------------------------------------------------------


def decisions_mark_missed(*, today: date) -> list[Decision]:
    """Decisions still open or in progress after their deadline day become missed (compare-and-set, so two
    runs mark each once). Returns the ones this call marked."""
    marked = []
    for decision in Decision.objects.filter(status__in=ACTIVE_DECISION_STATUSES, deadline__lt=today):
        if decision_status_set(decision=decision, status=DecisionStatus.MISSED, user=None, by_system=True,
                               note=f"Not done by the deadline, {decision.deadline:%Y-%m-%d}."):
            marked.append(decision)
    return marked


def _remind_once(decision: Decision, kind: str, recipient: User | None, subject: str, message: str) -> bool:
    """Record the reminder first (unique per decision and kind), then send it: a rerun sends nothing twice."""
    if recipient is None or not recipient.is_active:
        return False
    try:
        with transaction.atomic():
            DecisionReminder.objects.create(decision=decision, kind=kind, sent_to=recipient.email)
    except IntegrityError:
        return False
    send_mail(subject=subject, message=message, from_email=None, recipient_list=[recipient.email])
    return True


def decisions_follow_up(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic follow-up: mark missed decisions, remind owners a week and a day before the deadline,
    and tell the facilitator (or whoever planned the review) about each overdue decision once."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    missed = len(decisions_mark_missed(today=today))
    reminded = overdue = 0
    upcoming = (Decision.objects.filter(status__in=ACTIVE_DECISION_STATUSES, deadline__gte=today,
                                        deadline__lte=today + timedelta(days=WEEK_REMINDER_DAYS))
                .select_related("owner", "review").exclude(reminders__kind=ReminderKind.DAY_BEFORE))
    for decision in upcoming:
        days = (decision.deadline - today).days
        kind = ReminderKind.DAY_BEFORE if days <= DAY_REMINDER_DAYS else ReminderKind.WEEK_BEFORE
        when = {0: "today", 1: "tomorrow"}.get(days, f"in {days} days")
        reminded += _remind_once(
            decision, kind, decision.owner,
            subject=f"[Bellwether] Decision due {when}: {decision.text[:80]}",
            message=(f"The decision you own from the {decision.review} is due {when} "
                     f"({decision.deadline:%Y-%m-%d}):\n\n{decision.text}\n\nStatus: "
                     f"{decision.get_status_display()}. Record progress or mark it done on the review's page."),
        )
    late = (Decision.objects.filter(status=DecisionStatus.MISSED).exclude(reminders__kind=ReminderKind.OVERDUE)
            .select_related("owner", "review__facilitator", "review__created_by"))
    for decision in late:
        overdue += _remind_once(
            decision, ReminderKind.OVERDUE, decision.review.facilitator or decision.review.created_by,
            subject=f"[Bellwether] Overdue decision: {decision.text[:80]}",
            message=(f"A decision of the {decision.review}, owned by {decision.owner}, was due "
                     f"{decision.deadline:%Y-%m-%d} and is not done:\n\n{decision.text}"),
        )
    return {"missed": missed, "reminded": reminded, "overdue": overdue}
