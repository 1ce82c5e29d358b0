"""Server time of every page on the demo tenant, against the 200 ms goal of the web app.

    make bench-pages       (or: .venv/bin/python scripts/bench_pages.py --repeats 7)

Seeds the demo tenant `acme` if it is missing (500 accounts, 12 people, 18 months of revenue, about a
million events, reviews), then renders each page in this process through Django's full stack (middleware,
tenant routing, session, template), signed in as the person who uses it. For each page: one warm-up, then
the median and the worst of --repeats renderings, the number of SQL queries, and the size of the answer.
The baseline in the same run is `/healthz` (one trivial query and a broker ping, no template).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
os.environ.setdefault("DJANGO_DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_tenants.utils import tenant_context  # noqa: E402

from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_host  # noqa: E402

SLUG = "acme"
GOAL_MS = 200


def pages(tenant: Tenant) -> list[tuple[str, str]]:
    """(who, path) for every page a person opens, with real ids from the demo."""
    from accounts.models import Account
    from metrics.models import KPI, AlertRule
    from playbooks.models import Playbook, Task
    from reviews.models import Review

    with tenant_context(tenant):
        account = (Account.objects.filter(playbook_runs__isnull=False).order_by("pk").first()
                   or Account.objects.order_by("pk").first())
        kpi = KPI.objects.get(slug="nps")
        playbook = Playbook.objects.order_by("pk").first()
        review = Review.objects.order_by("-quarter").first()
        task = (Task.objects.filter(assignee__email=f"csm1@{SLUG}.example", run__breach__isnull=False).order_by("pk")
                .first() or Task.objects.order_by("pk").first())
        rule = AlertRule.objects.order_by("pk").first()
    listed = [
        ("csm1", "/work/"), ("csm1", "/accounts/"), ("csm1", f"/accounts/{account.pk}/"),
        ("leader", "/dashboard/"), ("leader", f"/kpis/{kpi.slug}/"), ("leader", "/glossary/"),
        ("leader", "/alerts/"), ("leader", "/feedback/"), ("leader", "/playbooks/"),
        ("leader", f"/playbooks/{playbook.pk}/"), ("leader", "/reviews/"),
        ("admin", "/data-health/"), ("admin", "/settings/api-keys/"), ("admin", "/settings/"),
        ("admin", "/settings/users/"), ("admin", "/settings/webhooks/"), ("admin", "/settings/audit-log/"),
        ("csm1", f"/accounts/{account.pk}/kpis/{kpi.slug}/"), ("manager1", "/team/"), ("leader", "/team/"),
        ("admin", "/settings/alert-rules/"), ("admin", "/settings/kpis/"), ("admin", f"/settings/kpis/{kpi.slug}/"),
    ]
    if task is not None:
        listed.append(("csm1", f"/tasks/{task.pk}/"))
    if rule is not None:  # its page replays the rule on the last 90 days
        listed.append(("admin", f"/settings/alert-rules/{rule.pk}/"))
    if review is not None:
        listed.append(("leader", f"/reviews/{review.pk}/"))
    return listed


def measure(client: Client, path: str, repeats: int) -> tuple[float, float, int, int, int]:
    client.get(path)  # warm-up: template loading, first connection
    timings, status, size, queries = [], 0, 0, 0
    for _ in range(repeats):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        status, size, queries = response.status_code, len(response.content), len(captured)
    return statistics.median(timings), max(timings), queries, status, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    call_command("seed_demo", "--if-missing")
    tenant = Tenant.objects.get(slug=SLUG)
    from users.models import User

    clients: dict[str, Client] = {}
    with tenant_context(tenant):
        for local in ("csm1", "manager1", "leader", "admin"):
            client = Client(HTTP_HOST=tenant_host(SLUG))
            client.force_login(User.objects.get(email=f"{local}@{SLUG}.example"))
            clients[local] = client
    base_median, base_worst, base_queries, _, _ = measure(clients["admin"], "/healthz", args.repeats)
    print(f"{'page':34} {'as':7} {'median':>8} {'worst':>8} {'queries':>8} {'KB':>6}")
    print(f"{'/healthz (baseline)':34} {'':7} {base_median:7.1f}ms {base_worst:7.1f}ms {base_queries:8}")
    slow = []
    for who, path in pages(tenant):
        median, worst, queries, status, size = measure(clients[who], path, args.repeats)
        if status != 200:
            sys.exit(f"{path} as {who}: HTTP {status}")
        flag = "" if median < GOAL_MS else "  over the goal"
        if flag:
            slow.append(path)
        print(f"{path:34} {who:7} {median:7.1f}ms {worst:7.1f}ms {queries:8} {size / 1024:6.0f}{flag}")
    print(f"\ngoal: every page under {GOAL_MS} ms (median): "
          + ("met" if not slow else f"NOT met for {', '.join(slow)}"))


if __name__ == "__main__":
    main()
