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
    """(who, path) for every page a person opens, with real ids from the demo; a page about an object the demo
    does not have (an experiment, a draft one, a scenario, a webhook, a CSV import) is named on stderr and left
    out."""
    from django.urls import reverse

    from accounts.models import Account
    from integrations.models import CsvImport
    from metrics.models import KPI, AlertRule
    from notifications.models import Webhook
    from playbooks.models import Experiment, Playbook, Task
    from reviews.models import Review, Scenario
    from users.models import User

    with tenant_context(tenant):
        account = (Account.objects.filter(playbook_runs__isnull=False).order_by("pk").first()
                   or Account.objects.order_by("pk").first())
        task = (Task.objects.filter(assignee__email=f"csm1@{SLUG}.example", run__breach__isnull=False).order_by("pk")
                .first() or Task.objects.order_by("pk").first())
        objects = {
            "account": account, "task": task, "kpi": KPI.objects.filter(slug="nps").first(),
            "playbook": Playbook.objects.order_by("pk").first(), "review": Review.objects.order_by("-quarter").first(),
            "rule": AlertRule.objects.order_by("pk").first(), "webhook": Webhook.objects.order_by("pk").first(),
            "experiment": Experiment.objects.order_by("pk").first(),
            "draft": Experiment.objects.filter(status="draft").order_by("pk").first(),  # only a draft's form opens
            "scenario": Scenario.objects.order_by("pk").first(),
            "csv_import": CsvImport.objects.order_by("pk").first(),
            "csm": User.objects.filter(email=f"csm1@{SLUG}.example").first(),
        }
    pk = {"pk": lambda subject: subject.pk}
    listed = [
        ("csm1", "my_work", {}), ("csm1", "task_detail", {"task": pk}), ("csm1", "account_list", {}),
        ("csm1", "account_detail", {"account": pk}),
        ("csm1", "account_kpi", {"account": pk, "kpi": {"slug": lambda kpi: kpi.slug}}),
        ("csm1", "feedback", {}), ("csm1", "password_change", {}), ("manager1", "team", {}), ("leader", "team", {}),
        ("leader", "dashboard", {}), ("leader", "kpi_detail", {"kpi": {"slug": lambda kpi: kpi.slug}}),
        ("leader", "glossary", {}), ("leader", "alerts", {}), ("leader", "predictions", {}),
        ("leader", "renewal_forecast", {}), ("leader", "experiment_list", {}),
        ("leader", "experiment_detail", {"experiment": pk}), ("admin", "experiment_new", {}),
        ("admin", "experiment_edit", {"draft": pk}), ("leader", "scenario_list", {}),
        ("leader", "scenario_detail", {"scenario": pk}), ("leader", "feedback_themes", {}), ("leader", "backlog", {}),
        ("leader", "playbook_list", {}), ("leader", "playbook_detail", {"playbook": pk}),
        ("admin", "playbook_new", {}), ("admin", "playbook_edit", {"playbook": pk}), ("leader", "review_list", {}),
        ("leader", "review_detail", {"review": pk}), ("leader", "review_print", {"review": pk}),
        ("admin", "settings", {}), ("admin", "settings_users", {}), ("admin", "settings_user_edit", {"csm": pk}),
        ("admin", "settings_sla", {}), ("admin", "settings_health", {}), ("admin", "settings_alert_rules", {}),
        ("admin", "settings_alert_rule_new", {}), ("admin", "settings_alert_rule_edit", {"rule": pk}),
        ("admin", "settings_kpis", {}), ("admin", "settings_kpi_edit", {"kpi": {"slug": lambda kpi: kpi.slug}}),
        ("admin", "api_keys", {}), ("admin", "webhooks", {}), ("admin", "webhook_detail", {"webhook": pk}),
        ("admin", "audit_log", {}), ("admin", "data_health", {}), ("admin", "csv_import", {}),
        ("admin", "csv_import_detail", {"csv_import": pk}), ("admin", "connectors", {}),
        ("admin", "connector_detail", {None: {"connector": lambda _: "segment"}}),
    ]
    paths = []
    for who, name, needs in listed:
        kwargs, missing = {}, []
        for subject, parameters in needs.items():
            found = objects[subject] if subject else True
            if found is None:
                missing.append(subject)
                continue
            kwargs |= {parameter: value(found) for parameter, value in parameters.items()}
        if missing:
            print(f"left out {name}: the demo has no {', '.join(missing)}", file=sys.stderr)
            continue
        paths.append((who, reverse(name, kwargs=kwargs)))
    return paths


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
