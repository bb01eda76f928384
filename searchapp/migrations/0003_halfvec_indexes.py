from django.db import migrations

FIND_OLD_INDEXES = """
SELECT indexname FROM pg_indexes
WHERE tablename = 'searchapp_itemembedding' AND indexname LIKE 'item_embedding_hnsw_%%'
"""
MODEL_DIMENSIONS = """
SELECT DISTINCT model_key, vector_dims(embedding) FROM searchapp_itemembedding
"""


def index_as_halfvec(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    """Replace the per-model `vector` HNSW indexes by `halfvec` ones (searchapp.vector_index)."""
    from searchapp.vector_index import create_index_statement

    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FIND_OLD_INDEXES)
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute(MODEL_DIMENSIONS)
        for model_key, dimension in cursor.fetchall():
            statement = create_index_statement(model_key=model_key, dimension=dimension)
            cursor.execute(statement.as_string(cursor.connection))


class Migration(migrations.Migration):
    dependencies = [("searchapp", "0002_library")]

    operations = [migrations.RunPython(index_as_halfvec, migrations.RunPython.noop)]
