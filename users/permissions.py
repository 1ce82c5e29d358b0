"""Role checks for server-rendered pages (the API uses scopes, see core.api.permissions)."""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from users.models import Role


def role_required(*roles: str) -> Callable:
    """Refuse (403) a signed-in user whose role is not among `roles`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.user.role not in roles:
                raise PermissionDenied("Your role cannot open this page.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


admin_required = role_required(Role.ADMIN)
