"""The Django admin runs under the app's Content-Security-Policy: its pages load and its scripts run with no
violation reported by the browser (list pages, add forms with their widgets)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib import admin

from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_the_admin_works_under_the_csp(page: Page, sign_in):
    sign_in(Role.ADMIN)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text else None)
    lists = sorted({f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model in admin.site._registry})
    paths = ["/admin/", *lists, "/admin/metrics/alertrule/add/", "/admin/playbooks/playbook/add/",
             "/admin/users/user/add/"]

    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status < 400, (path, response and response.status)
        page.wait_for_load_state("load")

    assert not refused, "the admin broke the CSP:\n" + "\n".join(sorted(set(refused)))
