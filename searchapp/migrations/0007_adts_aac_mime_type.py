from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def label_adts_aac(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Of the allowed audio demuxers only ADTS ("aac") had no MIME type, so every audio item
    # stored as application/octet-stream is raw AAC.
    Item = apps.get_model("searchapp", "Item")
    Item.objects.filter(modality="audio", mime_type="application/octet-stream").update(
        mime_type="audio/aac"
    )


class Migration(migrations.Migration):
    dependencies = [("searchapp", "0006_item_job_heartbeat")]

    operations = [migrations.RunPython(label_adts_aac, migrations.RunPython.noop)]
