from __future__ import annotations

import re

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# Before, a job that gave up stored "Gave up after N attempts. ExceptionClass: message", which
# users saw with class names and server paths. The reasons as searchapp.tasks words them now:
MODEL_UNAVAILABLE_REASON = (
    "the embedding model is not available on the server. An administrator can find out why "
    "in the worker's log and then re-embed the item."
)
SERVER_ERROR_REASON = (
    "an error on the server stopped the embedding. An administrator can find it in the worker's "
    "log and then re-embed the item."
)
OLD_REASON = re.compile(r"Gave up after (\d+) attempts\. (\w+): ")


def reword_failures(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Item = apps.get_model("searchapp", "Item")
    for item in Item.objects.filter(error_message__startswith="Gave up after ").only("error_message"):
        old = OLD_REASON.match(item.error_message)
        if old is None:
            continue
        attempts, error_class = old.groups()
        cause = MODEL_UNAVAILABLE_REASON if error_class == "ModelUnavailable" else SERVER_ERROR_REASON
        item.error_message = f"Gave up after {attempts} attempts: {cause}"
        item.save(update_fields=["error_message"])


class Migration(migrations.Migration):
    dependencies = [("searchapp", "0004_item_embedded_at")]

    operations = [migrations.RunPython(reword_failures, migrations.RunPython.noop)]
