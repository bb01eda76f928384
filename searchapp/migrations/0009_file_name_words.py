from __future__ import annotations

from django.apps.registry import Apps
from django.contrib.postgres.search import SearchVector
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import F, Func, TextField, Value

# The words inside a file name or title, which PostgreSQL's parser reads as one lexeme
# ("coffee.png"): a space at each run of separators, between camelCase words and between
# letters and digits. "IMG_2041-harbourSeals.jpg" -> "IMG 2041 harbour Seals jpg".
CREATE_NAME_WORDS = r"""
CREATE OR REPLACE FUNCTION searchapp_name_words(name text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT trim(regexp_replace(
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(name,
      '([[:lower:]])([[:upper:]])', '\1 \2', 'g'),
      '([[:upper:]])([[:upper:]][[:lower:]])', '\1 \2', 'g'),
      '([[:alpha:]])([[:digit:]])', '\1 \2', 'g'),
      '([[:digit:]])([[:alpha:]])', '\1 \2', 'g'),
    '[^[:alnum:]]+', ' ', 'g'))
$$
"""
DROP_NAME_WORDS = "DROP FUNCTION IF EXISTS searchapp_name_words(text)"


def _search_document(*, name_words: bool) -> SearchVector:
    # As searchapp.services.items words it at this migration, with the words of names or not.
    def names(field: str) -> list[object]:
        if not name_words:
            return [field]
        return [field, Func(F(field), function="searchapp_name_words", output_field=TextField())]

    return (
        SearchVector(*names("title"), weight="A", config="english")
        + SearchVector(
            Func(F("tags"), Value(" "), function="array_to_string", output_field=TextField()),
            weight="A",
            config="english",
        )
        + SearchVector(*names("original_filename"), "description", weight="B", config="english")
        + SearchVector("text", weight="C", config="english")
    )


def index_name_words(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("searchapp", "Item").objects.update(
        search_document=_search_document(name_words=True)
    )


def unindex_name_words(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("searchapp", "Item").objects.update(
        search_document=_search_document(name_words=False)
    )


class Migration(migrations.Migration):
    dependencies = [("searchapp", "0008_library_items")]

    operations = [
        migrations.RunSQL(CREATE_NAME_WORDS, DROP_NAME_WORDS),
        migrations.RunPython(index_name_words, unindex_name_words),
    ]
