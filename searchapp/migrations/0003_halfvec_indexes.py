import hashlib

from django.db import migrations
from psycopg import sql

FIND_OLD_INDEXES = """
SELECT indexname FROM pg_indexes
WHERE tablename = 'searchapp_itemembedding' AND indexname LIKE 'item_embedding_hnsw_%%'
"""
MODEL_DIMENSIONS = """
SELECT DISTINCT model_key, vector_dims(embedding) FROM searchapp_itemembedding
"""
# The index searchapp.vector_index built when this migration was written, spelled out here so
# that a later change to that module cannot change what this migration does.
CREATE_INDEX = (
    "CREATE INDEX IF NOT EXISTS {name} ON searchapp_itemembedding USING hnsw "
    "((embedding::halfvec({dimension})) halfvec_cosine_ops) "
    "WITH (m = 32, ef_construction = 128) WHERE model_key = {key}"
)


def index_as_halfvec(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    """Replace the per-model `vector` HNSW indexes by `halfvec` ones."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FIND_OLD_INDEXES)
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute(MODEL_DIMENSIONS)
        for model_key, dimension in cursor.fetchall():
            digest = hashlib.sha256(model_key.encode()).hexdigest()[:16]
            statement = sql.SQL(CREATE_INDEX).format(
                name=sql.Identifier(f"item_embedding_halfvec_{digest}"),
                dimension=sql.Literal(dimension),
                key=sql.Literal(model_key),
            )
            cursor.execute(statement.as_string(cursor.connection))


class Migration(migrations.Migration):
    dependencies = [("searchapp", "0002_library")]

    operations = [migrations.RunPython(index_as_halfvec, migrations.RunPython.noop)]
