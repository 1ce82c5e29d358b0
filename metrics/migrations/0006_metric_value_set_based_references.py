"""The values table's references (KPI, account, computation run) checked per statement instead of per row.

A foreign-key constraint runs one lookup and one row lock per inserted row: for a computation writing 80,000
values that was about 1 s, more than computing them. These triggers do what the three constraints did, set-based:

- after an INSERT or UPDATE of values, one query per referenced table locks the referenced rows FOR KEY SHARE
  (so they cannot be deleted before this transaction ends, exactly as a foreign key's check locks them), and one
  query looks for a reference to a row that does not exist, failing the statement with SQLSTATE 23503
  (foreign_key_violation, an IntegrityError in Django) naming it;
- after a DELETE or TRUNCATE of accounts or KPIs their values are deleted (ON DELETE CASCADE), and after one of
  computation runs the values' run is set to NULL (ON DELETE SET NULL).

Every table is named through TG_TABLE_SCHEMA: the trigger works in whichever tenant schema fired it, whatever the
session's search_path. Primary keys are never updated (Django does not), so updates of referenced rows are not
watched.
"""

import django.db.models.deletion
from django.db import migrations, models

_TRIGGERS = """
CREATE OR REPLACE FUNCTION metric_value_references_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    EXECUTE format('SELECT FROM %1$I.accounts_account WHERE id IN (SELECT account_id FROM new_values) FOR KEY SHARE;',
                   TG_TABLE_SCHEMA);
    EXECUTE format('SELECT FROM %1$I.metrics_kpi WHERE id IN (SELECT kpi_id FROM new_values) FOR KEY SHARE;',
                   TG_TABLE_SCHEMA);
    EXECUTE format('SELECT FROM %1$I.metrics_computationrun WHERE id IN (SELECT run_id FROM new_values) FOR KEY SHARE;',
                   TG_TABLE_SCHEMA);
    EXECUTE format($check$
        SELECT coalesce(
            (SELECT 'account ' || n.account_id FROM new_values n
             WHERE n.account_id IS NOT NULL
               AND NOT EXISTS (SELECT FROM %1$I.accounts_account a WHERE a.id = n.account_id) LIMIT 1),
            (SELECT 'KPI ' || n.kpi_id FROM new_values n
             WHERE NOT EXISTS (SELECT FROM %1$I.metrics_kpi k WHERE k.id = n.kpi_id) LIMIT 1),
            (SELECT 'computation run ' || n.run_id FROM new_values n
             WHERE n.run_id IS NOT NULL
               AND NOT EXISTS (SELECT FROM %1$I.metrics_computationrun r WHERE r.id = n.run_id) LIMIT 1))
    $check$, TG_TABLE_SCHEMA) INTO missing;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'A metric value refers to %, which does not exist.', missing
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END $$;

-- TG_ARGV: the values' column referring to the table, and 'cascade' or 'set null'.
CREATE OR REPLACE FUNCTION metric_value_referenced_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referring text := CASE WHEN TG_OP = 'TRUNCATE' THEN format('%I IS NOT NULL', TG_ARGV[0])
                           ELSE format('%I IN (SELECT id FROM old_rows)', TG_ARGV[0]) END;
BEGIN
    IF TG_ARGV[1] = 'cascade' THEN
        EXECUTE format('DELETE FROM %I.metrics_metricvalue WHERE %s', TG_TABLE_SCHEMA, referring);
    ELSE
        EXECUTE format('UPDATE %I.metrics_metricvalue SET %I = NULL WHERE %s', TG_TABLE_SCHEMA, TG_ARGV[0], referring);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER metric_value_references_inserted AFTER INSERT ON metrics_metricvalue
    REFERENCING NEW TABLE AS new_values FOR EACH STATEMENT EXECUTE FUNCTION metric_value_references_check();
CREATE TRIGGER metric_value_references_updated AFTER UPDATE ON metrics_metricvalue
    REFERENCING NEW TABLE AS new_values FOR EACH STATEMENT EXECUTE FUNCTION metric_value_references_check();

CREATE TRIGGER metric_values_of_accounts_deleted AFTER DELETE ON accounts_account
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION metric_value_referenced_delete('account_id', 'cascade');
CREATE TRIGGER metric_values_of_accounts_truncated AFTER TRUNCATE ON accounts_account
    FOR EACH STATEMENT EXECUTE FUNCTION metric_value_referenced_delete('account_id', 'cascade');
CREATE TRIGGER metric_values_of_kpis_deleted AFTER DELETE ON metrics_kpi
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION metric_value_referenced_delete('kpi_id', 'cascade');
CREATE TRIGGER metric_values_of_kpis_truncated AFTER TRUNCATE ON metrics_kpi
    FOR EACH STATEMENT EXECUTE FUNCTION metric_value_referenced_delete('kpi_id', 'cascade');
CREATE TRIGGER metric_values_of_runs_deleted AFTER DELETE ON metrics_computationrun
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION metric_value_referenced_delete('run_id', 'set null');
CREATE TRIGGER metric_values_of_runs_truncated AFTER TRUNCATE ON metrics_computationrun
    FOR EACH STATEMENT EXECUTE FUNCTION metric_value_referenced_delete('run_id', 'set null');
"""

_TRIGGERS_DROPPED = """
DROP TRIGGER IF EXISTS metric_value_references_inserted ON metrics_metricvalue;
DROP TRIGGER IF EXISTS metric_value_references_updated ON metrics_metricvalue;
DROP TRIGGER IF EXISTS metric_values_of_accounts_deleted ON accounts_account;
DROP TRIGGER IF EXISTS metric_values_of_accounts_truncated ON accounts_account;
DROP TRIGGER IF EXISTS metric_values_of_kpis_deleted ON metrics_kpi;
DROP TRIGGER IF EXISTS metric_values_of_kpis_truncated ON metrics_kpi;
DROP TRIGGER IF EXISTS metric_values_of_runs_deleted ON metrics_computationrun;
DROP TRIGGER IF EXISTS metric_values_of_runs_truncated ON metrics_computationrun;
DROP FUNCTION IF EXISTS metric_value_references_check();
DROP FUNCTION IF EXISTS metric_value_referenced_delete();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_survey_sentiment'),
        ('metrics', '0005_metric_value_redundant_indexes'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='metricvalue',
            name='metric_value_one_per_subject_and_date',
        ),
        migrations.RemoveIndex(
            model_name='metricvalue',
            name='metrics_met_kpi_id_773ba9_idx',
        ),
        migrations.AddField(
            model_name='computationrun',
            name='values_computed',
            field=models.PositiveIntegerField(default=0, help_text='Values the run computed, whether they changed or not.'),
        ),
        migrations.AlterField(
            model_name='computationrun',
            name='rows_written',
            field=models.PositiveIntegerField(default=0, help_text='Rows inserted, updated or removed: a rerun that finds every value unchanged writes none.'),
        ),
        migrations.AlterField(
            model_name='metricvalue',
            name='account',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='metric_values', to='accounts.account'),
        ),
        migrations.AlterField(
            model_name='metricvalue',
            name='kpi',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='values', to='metrics.kpi'),
        ),
        migrations.AlterField(
            model_name='metricvalue',
            name='run',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, help_text='The run that last changed this value (a rerun leaves an equal value alone).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='metrics.computationrun'),
        ),
        migrations.AddConstraint(
            model_name='metricvalue',
            constraint=models.UniqueConstraint(fields=('kpi', 'scope', 'as_of', 'account', 'dimension', 'segment'), name='metric_value_one_per_subject_and_date', nulls_distinct=False),
        ),
        migrations.RunSQL(_TRIGGERS, reverse_sql=_TRIGGERS_DROPPED),
    ]
