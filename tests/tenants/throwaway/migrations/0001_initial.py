"""A table, then a step that fails in the schemas THROWAWAY_FAIL_IN names (comma-separated)."""

import os

from django.db import migrations


def fail_where_asked(apps, schema_editor) -> None:
    if schema_editor.connection.schema_name in os.environ.get("THROWAWAY_FAIL_IN", "").split(","):
        raise RuntimeError(f"refused in {schema_editor.connection.schema_name}, as the test asked")


class Migration(migrations.Migration):
    dependencies = []

    operations = [
        migrations.RunSQL("CREATE TABLE throwaway_marker (id integer)", "DROP TABLE throwaway_marker"),
        migrations.RunPython(fail_where_asked, migrations.RunPython.noop),
    ]
