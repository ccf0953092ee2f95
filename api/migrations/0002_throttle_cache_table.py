"""The table of the "api" cache (settings.CACHES), where the API's throttle counts requests."""

from __future__ import annotations

from django.core.management import call_command
from django.db import migrations


def _create_cache_table(apps, schema_editor) -> None:
    # Creates only the tables of database caches that are missing.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def _drop_cache_table(apps, schema_editor) -> None:
    schema_editor.execute("DROP TABLE IF EXISTS api_throttle_cache")


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    operations = [migrations.RunPython(_create_cache_table, _drop_cache_table)]
