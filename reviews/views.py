"""The review pages: the list, the workspace a review is run in (agenda, snapshot with commentary, decisions
edited inline, progress), closing it, and its exports (printable page, PDF, CSV of decisions)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.numbers import QUARTER_PATTERN
from metrics.models import KPI
from metrics.segments import DIMENSIONS
from reviews import exports, selectors, services
from reviews.models import Decision, DecisionKind, DecisionStatus, Review, ReviewKPI
from reviews.permissions import may_follow_up, may_run_reviews
from reviews.quarters import quarter_of
from users.models import User


def _runners_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not may_run_reviews(request.user):
            raise PermissionDenied("Only CS leaders and admins run reviews.")
        return view(request, *args, **kwargs)

    return wrapper


def _people():
    return User.objects.filter(is_active=True).order_by("full_name", "email")


class ReviewForm(forms.Form):
    quarter = forms.RegexField(QUARTER_PATTERN, error_messages={"invalid": "Write the quarter YYYY-Qn."})
    name = forms.CharField(required=False, max_length=200)
    meeting_date = forms.DateField(required=False)
    facilitator = forms.ModelChoiceField(queryset=_people(), required=False)
    segment_dimensions = forms.MultipleChoiceField(choices=[(name, name) for name in DIMENSIONS], required=False)


class ReviewEditForm(forms.Form):
    meeting_date = forms.DateField(required=False)
    facilitator = forms.ModelChoiceField(queryset=_people(), required=False)
    attendees = forms.ModelMultipleChoiceField(queryset=_people(), required=False)


class DecisionForm(forms.Form):
    kind = forms.ChoiceField(choices=DecisionKind.choices)
    text = forms.CharField(max_length=5000)
    kpi = forms.ModelChoiceField(queryset=KPI.objects.filter(is_active=True), required=False)
    owner = forms.ModelChoiceField(queryset=_people())
    deadline = forms.DateField()
    new_target = forms.FloatField(required=False)
    target_period = forms.CharField(required=False, max_length=7)
    target_rationale = forms.CharField(required=False, max_length=5000)


class DecisionEditForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=_people(), required=False)
    deadline = forms.DateField(required=False)
    status = forms.ChoiceField(choices=DecisionStatus.choices, required=False)
    note = forms.CharField(required=False, max_length=5000)


def _form_error(request: HttpRequest, form: forms.Form) -> None:
    problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
    messages.error(request, f"Nothing was saved. {problems}")


def _attempt(request: HttpRequest, action: Callable[[], object], success: str) -> None:
    try:
        action()
    except services.ReviewError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)


def review_list(request: HttpRequest) -> HttpResponse:
    """Every review, latest first; leaders and admins plan the next one here."""
    if request.method == "POST":
        if not may_run_reviews(request.user):
            raise PermissionDenied("Only CS leaders and admins plan reviews.")
        form = ReviewForm(request.POST)
        if not form.is_valid():
            return _review_list_page(request, typed=request.POST, errors=_field_errors(form))
        try:
            review = services.review_create(created_by=request.user, **form.cleaned_data)
        except services.ReviewError as error:
            return _review_list_page(request, typed=request.POST, errors={error.field or "": error.message})
        messages.success(request, f"Planned the {review}, with its KPI snapshot.")
        return redirect("review_detail", pk=review.pk)
    return _review_list_page(request)


def _field_errors(form: forms.Form) -> dict[str, str]:
    """A refused form's errors by field name ("" for the form as a whole), each field's messages joined."""
    return {("" if name == "__all__" else name): " ".join(errors) for name, errors in form.errors.items()}


def _review_list_page(request: HttpRequest, *, typed=None, errors: dict[str, str] | None = None) -> HttpResponse:
    """The reviews; after a refused plan, its form as it was typed with each error beside its field (400)."""
    return render(request, "reviews/review_list.html", {
        "reviews": selectors.review_list(), "may_run": may_run_reviews(request.user),
        "people": _people(), "this_quarter": quarter_of(timezone.localdate()), "dimensions": DIMENSIONS,
        "typed": typed, "typed_dimensions": typed.getlist("segment_dimensions") if typed else [],
        "errors": errors or {},
    }, status=400 if errors else 200)


@_runners_only
def review_decide(request: HttpRequest) -> HttpResponse:
    """From elsewhere (a feedback theme): open the newest review not closed with the decision's text filled in."""
    review = Review.objects.exclude(status="closed").order_by("-quarter", "-id").first()
    text = request.GET.get("text", "")[:5000]
    if review is None:
        messages.error(request, "Plan a review first: decisions are taken in one.")
        return redirect("review_list")
    return redirect(f"{reverse('review_detail', args=[review.pk])}?{urlencode({'decision': text})}#decisions")


def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The workspace the review is run in: its agenda, the snapshot with commentary, the decisions."""
    return _review_page(request, get_object_or_404(selectors.review_detail_queryset(), pk=pk))


def _review_page(request: HttpRequest, review: Review, *, typed: dict | None = None,
                 errors: dict[str, str] | None = None, edited: Decision | None = None) -> HttpResponse:
    """The review's page; after a refused decision (a new one, or the change of `edited`), its form as it was
    typed, each error beside its field (400)."""
    snapshot = selectors.review_snapshot(review=review)
    today = timezone.localdate()
    decisions = list(selectors.review_decisions(review=review))
    for decision in decisions:
        decision.overdue = decision.is_overdue(today)
        decision.may_follow_up = may_follow_up(request.user, decision)
        mine = edited is not None and decision.pk == edited.pk
        decision.edit_typed, decision.edit_errors = (typed, errors) if mine else (None, {})
    if edited is not None:  # the new decision's form is untouched
        typed, errors_shown = None, {}
    else:
        errors_shown = errors
    return render(request, "reviews/review_detail.html", {
        "review": review, "snapshot": snapshot, "decisions": decisions,
        "agenda": selectors.review_agenda(review=review, today=today, snapshot=snapshot),
        "may_run": may_run_reviews(request.user), "editable": may_run_reviews(request.user) and not review.is_closed,
        "people": list(_people()),
        "kpis": list(KPI.objects.filter(is_active=True).order_by("name")),
        "kinds": DecisionKind.choices, "statuses": DecisionStatus.choices,
        "scenarios": list(review.scenarios.order_by("name")),
        "suggested_decision": request.GET.get("decision", "")[:5000],
        "typed": typed or {}, "errors": errors_shown or {},
    }, status=400 if errors else 200)


@require_POST
@_runners_only
def review_edit(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(Review, pk=pk)
    form = ReviewEditForm(request.POST)
    if form.is_valid():
        _attempt(request, lambda: services.review_update(review=review, user=request.user, **form.cleaned_data),
                 "Saved the review's details.")
    else:
        _form_error(request, form)
    return redirect("review_detail", pk=pk)


@require_POST
@_runners_only
def review_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(Review, pk=pk)
    _attempt(request, lambda: services.review_start(review=review, user=request.user), f"Started the {review}.")
    return redirect("review_detail", pk=pk)


@require_POST
@_runners_only
def review_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(Review, pk=pk)
    _attempt(request, lambda: services.review_close(review=review, user=request.user),
             f"Closed the {review}: it is read-only now, and its target changes are applied.")
    return redirect("review_detail", pk=pk)


@require_POST
@_runners_only
def review_kpi_commentary(request: HttpRequest, pk: int, row: int) -> HttpResponse:
    snapshot_row = get_object_or_404(ReviewKPI.objects.select_related("kpi"), pk=row, review_id=pk)
    commentary = request.POST.get("commentary", "")[:10000]
    _attempt(request, lambda: services.review_kpi_comment(row=snapshot_row, user=request.user,
                                                          commentary=commentary),
             f"Saved the commentary on {snapshot_row.kpi.name}.")
    return redirect(reverse("review_detail", args=[pk]) + f"#kpi-{snapshot_row.pk}")


@require_POST
@_runners_only
def decision_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a decision. Refused, the page comes back with the form as typed and the error beside its field."""
    review = get_object_or_404(selectors.review_detail_queryset(), pk=pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        errors = {name: " ".join(messages_) for name, messages_ in form.errors.items()}
        return _review_page(request, review, typed=request.POST, errors=errors)
    try:
        services.decision_create(review=review, user=request.user, **form.cleaned_data)
    except services.ReviewError as error:
        if error.field is None:  # the review's state, not the form: said at the top, as for any refused action
            messages.error(request, error.message)
            return redirect("review_detail", pk=pk)
        return _review_page(request, review, typed=request.POST, errors={error.field: error.message})
    messages.success(request, "Recorded the decision; it is in its owner's inbox.")
    return redirect("review_detail", pk=pk)


@require_POST
def decision_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Inline edit of a decision: leaders and admins change its owner and deadline; they and its owner its
    status (with a note)."""
    decision = get_object_or_404(Decision, pk=pk)
    if not may_follow_up(request.user, decision):
        raise PermissionDenied("Only the decision's owner, CS leaders and admins change it.")
    form = DecisionEditForm(request.POST)
    if not form.is_valid():
        return _decision_refused(request, decision, _field_errors(form))
    data = form.cleaned_data
    fields = {name: data[name] for name in ("owner", "deadline") if data.get(name)}
    if fields and not may_run_reviews(request.user):
        raise PermissionDenied("Only CS leaders and admins change a decision's owner or deadline.")
    try:
        services.decision_update(decision=decision, user=request.user, status=data["status"] or None,
                                 note=data["note"], **fields)
    except services.ReviewError as error:
        if error.field is None:  # the review's state, not the form: said at the top, as for any refused action
            messages.error(request, error.message)
            return redirect("review_detail", pk=decision.review_id)
        return _decision_refused(request, decision, {error.field: error.message})
    messages.success(request, "Saved the decision.")
    return redirect("review_detail", pk=decision.review_id)


def _decision_refused(request: HttpRequest, decision: Decision, errors: dict[str, str]) -> HttpResponse:
    """The review's page with the decision's row as it was typed and each error beside its field (400)."""
    review = get_object_or_404(selectors.review_detail_queryset(), pk=decision.review_id)
    return _review_page(request, review, typed=request.POST, errors=errors, edited=decision)


def review_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The review on one printable page."""
    review = get_object_or_404(selectors.review_detail_queryset(), pk=pk)
    return render(request, "reviews/review_print.html", {
        "review": review, "snapshot": selectors.review_snapshot(review=review),
        "decisions": selectors.review_decisions(review=review),
    })


def _filename(review: Review, what: str) -> str:
    return f"review-{review.quarter}{'-' + str(review.pk) if review.name else ''}{what}"


def review_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(selectors.review_detail_queryset(), pk=pk)
    pdf = exports.review_pdf(review=review, snapshot=selectors.review_snapshot(review=review),
                             decisions=list(selectors.review_decisions(review=review)))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_filename(review, ".pdf")}"'
    return response


def decisions_csv(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(Review, pk=pk)
    body = exports.decisions_csv(review=review, decisions=list(selectors.review_decisions(review=review)))
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(review, "-decisions.csv")}"'
    return response
