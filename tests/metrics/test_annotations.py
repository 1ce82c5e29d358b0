"""KPI annotations: pinned from the KPI page or the API, shown as chart markers, on the dashboard tile and the
KPI page, read back by `annotations_for`; viewers and other tenants cannot write or read them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from core.api.scopes import Scope
from metrics.annotations import annotation_create
from metrics.models import Annotation, MetricValue
from metrics.selectors import annotations_for
from tests.conftest import login
from tests.integrations.conftest import post_json
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.metrics.factories import KPIFactory
from tests.users.factories import UserFactory
from users.models import Role

DAY = dt.date(2026, 3, 3)


@pytest.fixture
def nrr():
    kpi = KPIFactory(slug="nrr", name="Net revenue retention", calculator="revenue.nrr", unit="percent", params={})
    for offset, value in enumerate((101.0, 103.0, 99.0)):
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=DAY + dt.timedelta(days=offset),
                                   value=value)
    return kpi


@pytest.fixture
def csm():
    return UserFactory(role=Role.CSM, email="csm@alpha.example")


def test_the_service_strips_the_text_and_records_author_and_date(nrr, csm):
    annotation = annotation_create(kpi=nrr, date=DAY, text="  Price change on 3 March  ", author=csm)

    stored = Annotation.objects.get()
    assert stored == annotation
    assert (stored.kpi, stored.date, stored.text, stored.author) == (nrr, DAY, "Price change on 3 March", csm)


@pytest.mark.parametrize("text", ["", "   ", "x" * 501])
def test_the_service_refuses_empty_or_overlong_text(nrr, csm, text):
    with pytest.raises(ValidationError) as error:
        annotation_create(kpi=nrr, date=DAY, text=text, author=csm)

    assert "text" in error.value.message_dict
    assert not Annotation.objects.exists()


def test_annotations_for_groups_by_kpi_within_the_dates_oldest_first(nrr):
    csat = KPIFactory(slug="csat")
    quiet = KPIFactory(slug="quiet")
    for kpi, day, text in ((nrr, DAY + dt.timedelta(days=5), "later"), (nrr, DAY, "first"),
                           (csat, DAY, "survey change"), (nrr, DAY - dt.timedelta(days=1), "before the range"),
                           (nrr, DAY + dt.timedelta(days=30), "after the range")):
        annotation_create(kpi=kpi, date=day, text=text, author=None)

    notes = annotations_for(kpis=[nrr, csat, quiet], start=DAY, end=DAY + dt.timedelta(days=10))

    assert {kpi_id: [note.text for note in rows] for kpi_id, rows in notes.items()} == {
        nrr.pk: ["first", "later"], csat.pk: ["survey change"], quiet.pk: []}


def test_annotations_for_reads_in_one_query_however_many_kpis(nrr, django_assert_num_queries):
    kpis = [nrr, *KPIFactory.create_batch(5)]
    for kpi in kpis:
        annotation_create(kpi=kpi, date=DAY, text=f"note on {kpi.slug}", author=UserFactory())

    with django_assert_num_queries(1):
        notes = annotations_for(kpis=kpis)
        authors = [note.author.email for rows in notes.values() for note in rows]
    assert len(authors) == 6


# --- the KPI page


def test_pinning_from_the_kpi_page_shows_the_note_as_a_marker_and_in_the_list(client, nrr, csm):
    login(client, csm)

    response = client.post("/kpis/nrr/", {"date": "2026-03-04", "text": "Price change on the Growth plan"})

    assert response.status_code == 302
    note = Annotation.objects.get()
    assert (note.date, note.text, note.author) == (dt.date(2026, 3, 4), "Price change on the Growth plan", csm)
    page = client.get("/kpis/nrr/")
    content = page.content.decode()
    assert [row.text for row in page.context["annotations"]] == ["Price change on the Growth plan"]
    assert '<g class="marker"><title>2026-03-04: Price change on the Growth plan</title>' in content
    assert "Price change on the Growth plan</li>" not in content  # the list item names the author after the text
    assert "Price change on the Growth plan <small>— " in content


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"date": "", "text": "x"}, "date", "This field is required."),
    ({"date": "3 March", "text": "x"}, "date", "Enter a valid date."),
    ({"date": "2026-03-03", "text": "  "}, "text", "This field is required."),
    ({"date": "2026-03-03", "text": "x" * 501}, "text", "at most 500 characters"),
])
def test_a_bad_note_shows_the_form_errors_and_stores_nothing(client, nrr, csm, form, field, message):
    login(client, csm)

    response = client.post("/kpis/nrr/", form)

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert not Annotation.objects.exists()


def test_a_viewer_reads_notes_but_cannot_pin_them(client, nrr):
    annotation_create(kpi=nrr, date=DAY, text="Launch", author=None)
    login(client, UserFactory(role=Role.VIEWER))

    page = client.get("/kpis/nrr/")
    assert page.status_code == 200 and "Launch" in page.content.decode() and "Pin a note" not in page.content.decode()
    assert client.post("/kpis/nrr/", {"date": "2026-03-03", "text": "Mine"}).status_code == 403
    assert Annotation.objects.count() == 1


def test_kpi_page_queries_do_not_grow_with_notes(client, nrr, csm, django_assert_max_num_queries):
    login(client, csm)
    counts = []
    for batch in (1, 30):
        for index in range(batch):
            annotation_create(kpi=nrr, date=DAY, text=f"note {index}", author=UserFactory())
        with django_assert_max_num_queries(14) as captured:
            assert client.get("/kpis/nrr/").status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_the_dashboard_tile_lists_the_latest_note(client, nrr):
    today = timezone.localdate()
    MetricValue.objects.create(kpi=nrr, kpi_version=1, scope="portfolio", as_of=today, value=104.0)
    MetricValue.objects.create(kpi=nrr, kpi_version=1, scope="portfolio", as_of=today - dt.timedelta(weeks=1),
                               value=102.0)
    annotation_create(kpi=nrr, date=today - dt.timedelta(days=10), text="Older note", author=None)
    annotation_create(kpi=nrr, date=today - dt.timedelta(days=2), text="Renewal push", author=None)
    login(client, UserFactory(role=Role.LEADER))

    content = client.get("/dashboard/").content.decode()

    assert "Renewal push" in content and "+1 more" in content


# --- the API


def test_api_lists_notes_oldest_first_within_dates(client, nrr, read_key):
    for day, text in ((DAY + dt.timedelta(days=2), "second"), (DAY, "first"), (DAY + dt.timedelta(days=40), "late")):
        annotation_create(kpi=nrr, date=day, text=text, author=None)

    response = client.get("/api/v1/kpis/nrr/annotations/", {"to": "2026-03-31"}, **bearer(read_key))

    assert response.status_code == 200
    assert [(row["date"], row["text"], row["kpi"], row["author"]) for row in response.json()["results"]] == [
        ("2026-03-03", "first", "nrr", None), ("2026-03-05", "second", "nrr", None)]


def test_a_person_pins_through_the_api_as_the_author(client, nrr, csm):
    login(client, csm)

    response = post_json(client, "/api/v1/kpis/nrr/annotations/", {"date": "2026-03-03", "text": "Pricing v2"})

    assert response.status_code == 201
    assert (response.json()["author"], response.json()["text"]) == ("csm@alpha.example", "Pricing v2")
    assert Annotation.objects.get().author == csm


def test_an_admin_key_pins_without_an_author_and_a_read_key_cannot(client, nrr, read_key):
    admin = ApiKeyFactory(scopes=[Scope.READ, Scope.ADMIN])

    refused = post_json(client, "/api/v1/kpis/nrr/annotations/", {"date": "2026-03-03", "text": "x"}, read_key)
    created = post_json(client, "/api/v1/kpis/nrr/annotations/", {"date": "2026-03-03", "text": "Deploy 4.2"}, admin)

    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert created.status_code == 201 and created.json()["author"] is None
    assert list(Annotation.objects.values_list("text", flat=True)) == ["Deploy 4.2"]


def test_a_viewer_cannot_pin_through_the_api(client, nrr):
    login(client, UserFactory(role=Role.VIEWER))

    response = post_json(client, "/api/v1/kpis/nrr/annotations/", {"date": "2026-03-03", "text": "x"})

    assert response.status_code == 403
    assert not Annotation.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"text": "no date"}, "date"),
    ({"date": "03/03/2026", "text": "x"}, "date"),
    ({"date": "2026-03-03"}, "text"),
    ({"date": "2026-03-03", "text": "x" * 501}, "text"),
])
def test_bad_notes_are_400_naming_the_field(client, nrr, csm, body, field):
    login(client, csm)

    response = post_json(client, "/api/v1/kpis/nrr/annotations/", body)

    assert response.status_code == 400
    assert field in str(response.json())
    assert not Annotation.objects.exists()


def test_whitespace_only_text_is_400_with_a_clear_message(client, nrr, csm):
    login(client, csm)

    response = post_json(client, "/api/v1/kpis/nrr/annotations/", {"date": "2026-03-03", "text": "   "})

    assert response.status_code == 400
    assert "blank" in str(response.json())


def test_an_unknown_kpi_is_404(client, nrr, read_key, csm):
    assert client.get("/api/v1/kpis/nope/annotations/", **bearer(read_key)).status_code == 404
    login(client, csm)
    assert post_json(client, "/api/v1/kpis/nope/annotations/", {"date": "2026-03-03", "text": "x"}).status_code == 404


def test_bad_date_filters_are_400(client, nrr, read_key):
    response = client.get("/api/v1/kpis/nrr/annotations/", {"from": "yesterday"}, **bearer(read_key))

    assert response.status_code == 400
    assert response.json()["detail"] == "Query parameter from must be a date YYYY-MM-DD."


def test_api_list_queries_do_not_grow_with_notes(client, nrr, read_key, django_assert_max_num_queries):
    client.get("/api/v1/kpis/nrr/annotations/", **bearer(read_key))  # the key's first use is recorded once
    counts = []
    for batch in (1, 40):
        for index in range(batch):
            annotation_create(kpi=nrr, date=DAY, text=f"note {index}", author=UserFactory())
        with django_assert_max_num_queries(6) as captured:
            assert client.get("/api/v1/kpis/nrr/annotations/", **bearer(read_key)).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_another_tenants_notes_and_keys_are_out_of_reach(client, other_client, nrr, other_tenant):
    annotation_create(kpi=nrr, date=DAY, text="Alpha only", author=None)
    with schema_context(other_tenant.schema_name):
        bravo_key = ApiKeyFactory(scopes=[Scope.READ, Scope.ADMIN])
        KPIFactory(slug="nrr", name="Bravo NRR")

    assert client.get("/api/v1/kpis/nrr/annotations/", **bearer(bravo_key)).status_code == 401
    bravo_view = other_client.get("/api/v1/kpis/nrr/annotations/", **bearer(bravo_key))
    assert bravo_view.status_code == 200 and bravo_view.json()["results"] == []
    assert post_json(other_client, "/api/v1/kpis/nrr/annotations/", {"date": "2026-03-03", "text": "Bravo note"},
                     bravo_key).status_code == 201
    assert list(Annotation.objects.values_list("text", flat=True)) == ["Alpha only"]


def test_the_schema_documents_the_annotations_endpoint(client):
    import yaml

    document = yaml.safe_load(client.get("/api/v1/schema/").content)

    operations = document["paths"]["/api/v1/kpis/{slug}/annotations/"]
    assert set(operations) >= {"get", "post"}
    assert {"AnnotationOut", "AnnotationInRequest"} <= set(document["components"]["schemas"])
