"""Every new tenant starts with the default catalogue of docs/metrics.md, and the default alert rule and playbook
(renewal at risk -> value review)."""

from django_tenants.utils import schema_context

from metrics.calculators import REGISTRY
from metrics.catalogue import CATALOGUE, catalogue_install
from metrics.models import KPI
from tenants.services import tenant_create


def test_a_new_tenant_gets_the_whole_catalogue_owned_by_its_first_admin():
    tenant_create(slug="catalogue-co", name="Catalogue Co", admin_email="first@catalogue.example")

    with schema_context("catalogue_co"):
        kpis = {kpi.slug: kpi for kpi in KPI.objects.select_related("owner")}
        assert set(kpis) == {entry.slug for entry in CATALOGUE}
        assert {kpi.owner.email for kpi in kpis.values()} == {"first@catalogue.example"}
        assert all(kpi.versions.count() == 1 for kpi in kpis.values())
        assert kpis["grr"].calculator == "revenue.grr" and kpis["grr"].params == {"window_months": 12}
        assert kpis["health-score"].direction == "higher"
        assert sum(kpi.is_core for kpi in kpis.values()) <= 6
        from metrics.models import AlertRule
        from playbooks.models import Playbook

        rule = AlertRule.objects.get()
        assert (rule.kpi.slug, rule.name, rule.condition, rule.threshold, rule.renewal_within_days, rule.action) == (
            "renewal-probability", "Renewal at risk", "below", 60, 120, "start_playbook")
        playbook = Playbook.objects.get()
        assert (playbook.name, playbook.trigger, playbook.alert_rule_id) == ("Value review", "alert", rule.pk)
        assert list(playbook.steps.values_list("kind", "due_days", "assignee_rule")) == [
            ("value_review", 14, "account_owner")]


def test_every_catalogue_calculator_is_registered_with_a_formula():
    for entry in CATALOGUE:
        calculator = REGISTRY[entry.calculator]()
        assert calculator.formula.strip(), entry.slug
        calculator.clean_params(entry.params)


def test_installing_again_creates_nothing():
    catalogue_install()
    count = KPI.objects.count()

    assert catalogue_install() == []
    assert KPI.objects.count() == count == len(CATALOGUE)
