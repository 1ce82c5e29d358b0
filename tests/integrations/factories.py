import factory

from core.api.scopes import Scope
from integrations.models import DataKind, IngestBatch
from integrations.services import IssuedKey, api_key_create


class ApiKeyFactory(factory.Factory):
    """An issued key through the service, so the test knows its secret: `.secret`, `.api_key`."""

    class Meta:
        model = IssuedKey

    name = factory.Sequence(lambda n: f"Integration {n}")
    scopes = factory.LazyFunction(lambda: [Scope.INGEST, Scope.READ])
    created_by = None

    @classmethod
    def _create(cls, model_class, *, name, scopes, created_by) -> IssuedKey:
        return api_key_create(name=name, scopes=scopes, created_by=created_by)


class IngestBatchFactory(factory.django.DjangoModelFactory):
    """A logged batch; `received_at` (auto_now_add) is rewritten afterwards when given."""

    class Meta:
        model = IngestBatch

    kind = DataKind.EVENTS
    accepted = True
    items = 10
    created = 10

    @classmethod
    def _create(cls, model_class, *args, received_at=None, **kwargs) -> IngestBatch:
        batch = super()._create(model_class, *args, **kwargs)
        if received_at is not None:
            model_class.objects.filter(pk=batch.pk).update(received_at=received_at)
            batch.received_at = received_at
        return batch


def bearer(issued: IssuedKey) -> dict[str, str]:
    """The test-client keyword that sends `Authorization: Bearer <key>`."""
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}



class AccountItemFactory(factory.DictFactory):
    """One item of `POST /api/v1/accounts/bulk`."""

    external_id = factory.Sequence(lambda n: f"CRM-{n:05d}")
    name = factory.Sequence(lambda n: f"Customer {n}")


class EventItemFactory(factory.DictFactory):
    id = factory.Sequence(lambda n: f"evt-{n:06d}")
    account = "CRM-1"
    user = "ann"
    event = "login"
    timestamp = "2026-11-01T10:00:00Z"


class RevenueItemFactory(factory.DictFactory):
    account = "CRM-1"
    month = factory.Sequence(lambda n: f"{2020 + n // 12}-{n % 12 + 1:02d}")
    mrr = "1000.00"


class SurveyItemFactory(factory.DictFactory):
    id = factory.Sequence(lambda n: f"srv-{n:06d}")
    account = "CRM-1"
    kind = "nps"
    score = 9
    responded_at = "2026-11-01T10:00:00Z"


class TicketItemFactory(factory.DictFactory):
    id = factory.Sequence(lambda n: f"tkt-{n:06d}")
    account = "CRM-1"
    opened_at = "2026-11-01T09:00:00Z"
