"""Makes the request's caller the actor of every audited change made while it is handled."""

from audit.context import acting_request


class AuditActorMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        with acting_request(request):
            return self.get_response(request)
