from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# Before, items whose model could not be loaded failed for good, with this reason
# (searchapp.tasks at migration 0005). A missing model is not the item's fault: they wait for
# it now, and the worker queues them once it loads the model.
MODEL_UNAVAILABLE_REASON = "the embedding model is not available on the server."
# Reasons that also said how to fix them, once per failed item; the pages say it once now.
OLD_SERVER_ERROR = (
    "Gave up after {attempts} attempts: an error on the server stopped the embedding. An "
    "administrator can find it in the worker's log and then re-embed the item."
)
NEW_SERVER_ERROR = "an error on the server stopped the embedding ({attempts} attempts)."
OLD_LOST_JOBS = (
    "processing stopped 3 times before it finished (its worker stopped, perhaps running out of "
    "memory on this file). An administrator can re-embed the item."
)
NEW_LOST_JOBS = (
    "processing stopped 3 times before it finished (its worker stopped, perhaps running out of "
    "memory on this file)."
)


def wait_instead_of_failing(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Item = apps.get_model("searchapp", "Item")
    Item.objects.filter(status="failed", error_message__contains=MODEL_UNAVAILABLE_REASON).update(
        status="waiting", error_message="", lost_jobs=0
    )
    Item.objects.filter(status="failed", error_message=OLD_LOST_JOBS).update(
        error_message=NEW_LOST_JOBS
    )
    for attempts in range(1, 11):
        Item.objects.filter(
            status="failed", error_message=OLD_SERVER_ERROR.format(attempts=attempts)
        ).update(error_message=NEW_SERVER_ERROR.format(attempts=attempts))


class Migration(migrations.Migration):
    dependencies = [("searchapp", "0009_file_name_words")]

    operations = [migrations.RunPython(wait_instead_of_failing, migrations.RunPython.noop)]
