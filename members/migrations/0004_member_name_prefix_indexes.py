"""Indexes for the till's name search: ``LOWER(first_name) LIKE 'ada%'`` and the
same on ``last_name`` (members.selectors.member_search_by_name).

On PostgreSQL the expressions carry ``text_pattern_ops`` so that a prefix LIKE
can use them whatever the database collation is; other databases get plain
expression indexes. The operator class is PostgreSQL-only, so the indexes are
created here, per database, and kept out of the model state (an ``Index`` in
``Member.Meta`` could not say "opclass on PostgreSQL only").
"""

from django.db import migrations, models
from django.db.models.functions import Lower

INDEXES = {"member_first_lower_prefix": "first_name", "member_last_lower_prefix": "last_name"}


def create(apps, schema_editor):
    member = apps.get_model("members", "Member")
    for name, column in INDEXES.items():
        if schema_editor.connection.vendor == "postgresql":
            # OpClass() needs django.contrib.postgres installed to render; the SQL is short.
            table, quote = member._meta.db_table, schema_editor.quote_name
            schema_editor.execute(
                f"CREATE INDEX {quote(name)} ON {quote(table)} (LOWER({quote(column)}) text_pattern_ops)"
            )
        else:
            schema_editor.add_index(member, models.Index(Lower(column), name=name))


def drop(apps, schema_editor):
    member = apps.get_model("members", "Member")
    for name, column in INDEXES.items():
        schema_editor.remove_index(member, models.Index(Lower(column), name=name))


class Migration(migrations.Migration):

    dependencies = [
        ("members", "0003_consent_feedback_delivery"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop, elidable=False)],
            state_operations=[],
        ),
    ]
