"""API bodies within bounds (core/api/body.py): each view's byte cap is checked before anything reads the body,
and JSON is parsed only when the values it would build fit the view's budget, so a small body cannot make the
server build a large tree (issue #20: 26 MB of `{"events":[{},{},...]}` took a worker from 99 MB to 767 MB).
"""

from __future__ import annotations

import orjson
import pytest

from accounts.models import UsageEvent
from core.api import body
from core.api.body import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_JSON_VALUES, json_values_at_most
from core.api.scopes import Scope
from integrations.api.bulk import MAX_BULK_BYTES, MAX_BULK_JSON_VALUES
from metrics.models import AlertRule
from tests.accounts.factories import AccountFactory
from tests.integrations.factories import ApiKeyFactory, EventItemFactory, bearer

EVENTS = "/api/v1/events/bulk"


@pytest.fixture
def key():
    return ApiKeyFactory(scopes=[Scope.INGEST, Scope.READ, Scope.ADMIN])


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """Every JSON parse from here on, by parser (read it before reading the response, which parses too)."""
    calls: list[str] = []
    for module in (body.orjson, body.json):
        real = module.loads
        monkeypatch.setattr(module, "loads", lambda *args, real=real, name=module.__name__, **kwargs: (
            calls.append(name), real(*args, **kwargs))[1])
    return calls


def _post(client, path: str, payload: bytes, key, content_type: str = "application/json", **extra):
    return client.post(path, payload, content_type=content_type, **bearer(key), **extra)


def test_a_configuration_body_over_its_cap_is_a_413_before_it_is_read(client, key, parses):
    payload = orjson.dumps({"kpi": "nps", "name": "x" * DEFAULT_MAX_BODY_BYTES, "condition": "below"})

    response = _post(client, "/api/v1/alert-rules/", payload, key)
    assert parses == []

    assert response.status_code == 413
    assert response.json()["detail"] == (f"The body is {len(payload):,} bytes; the limit is "
                                         f"{DEFAULT_MAX_BODY_BYTES:,} for this endpoint.")
    assert not AlertRule.objects.exists()


def test_the_cap_holds_whoever_sends_it_and_whatever_the_headers_say_after_it(client, parses):
    """Refused on the declared length, before authentication or an Idempotency-Key makes anyone read it."""
    response = client.post("/api/v1/alert-rules/", b"{" * (DEFAULT_MAX_BODY_BYTES + 1), content_type="application/json",
                           HTTP_AUTHORIZATION="Bearer nobody", HTTP_IDEMPOTENCY_KEY="first")
    assert parses == []

    assert response.status_code == 413


def test_bulk_endpoints_take_batches_up_to_their_own_larger_cap(client, key, parses):
    response = _post(client, EVENTS, b" " * (MAX_BULK_BYTES + 1), key)
    assert parses == []

    assert response.status_code == 413
    assert "Send smaller batches" in response.json()["detail"]


def test_a_configuration_body_with_more_json_values_than_it_can_need_is_a_413_before_parsing(client, key,
                                                                                             parses):
    payload = orjson.dumps({"name": [0] * DEFAULT_MAX_JSON_VALUES})  # 40 kB, well under the byte cap

    response = _post(client, "/api/v1/alert-rules/", payload, key)
    assert parses == []

    assert response.status_code == 413
    assert response.json()["detail"] == ("The body holds more than 20,000 JSON values, more than this endpoint "
                                         "takes.")


def test_a_bulk_body_of_millions_of_empty_items_is_refused_before_parsing(client, key, parses):
    """The security review's body: 26 MB, 8.7 million `{}`; under the byte cap, far over the value budget."""
    payload = b'{"events":[' + b"{}," * 8_699_999 + b"{}]}"
    assert len(payload) < MAX_BULK_BYTES

    response = _post(client, EVENTS, payload, key)
    assert parses == []

    assert response.status_code == 413
    assert response.json()["detail"] == (
        f"The body holds more than {MAX_BULK_JSON_VALUES:,} JSON values, more than this endpoint takes. A batch "
        "holds at most 10,000 items of 64 JSON values each on average: split it into smaller batches.")
    assert not UsageEvent.objects.exists()


def test_the_same_items_nested_one_level_down_are_refused_too(client, key, parses):
    payload = b'{"events":[{"properties":{"a":[' + b"{}," * 1_000_000 + b"{}]}}]}"

    response = _post(client, EVENTS, payload, key)
    assert parses == []

    assert response.status_code == 413


def test_ndjson_with_more_lines_than_a_batch_holds_is_refused_before_any_is_parsed(client, key, parses):
    response = _post(client, EVENTS, b"{}\n" * 10_001, key, content_type="application/x-ndjson")
    assert parses == []

    assert response.status_code == 413
    assert response.json()["detail"].startswith("The body has more than 10,000 lines.")


def test_blank_ndjson_lines_do_not_count_and_cost_nothing(client, key):
    AccountFactory(external_id="CRM-1")
    events = [EventItemFactory(account="CRM-1") for _ in range(2)]
    payload = b"\n" * 1_000_000 + b"\n\n".join(orjson.dumps(event) for event in events) + b"\r\n"

    response = _post(client, EVENTS, payload, key, content_type="application/x-ndjson")

    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2


def test_commas_and_brackets_inside_strings_are_text_not_values(client, key):
    """Only the precise count (strings blanked out) decides a refusal, so prose full of commas is never refused."""
    AccountFactory(external_id="CRM-1")
    comment = "a, b, [c], {d}, " * 2000  # 12,000 separators in one value
    events = [EventItemFactory(account="CRM-1", properties={"note": comment}) for _ in range(100)]
    payload = orjson.dumps({"events": events})
    assert json_values_at_most(payload) > MAX_BULK_JSON_VALUES

    response = _post(client, EVENTS, payload, key)

    assert response.status_code == 200, response.content[:300]
    assert response.json()["created"] == 100


@pytest.mark.parametrize(("document", "at_least"), [
    (b"{}", 1), (b"[]", 1), (b"[1,2,3]", 3), (b'{"a":[{},{}],"b":"x"}', 5), (b'"a,b,c"', 1),
])
def test_the_budget_counts_at_least_every_value_parsing_would_build(document, at_least):
    assert json_values_at_most(document) >= at_least
