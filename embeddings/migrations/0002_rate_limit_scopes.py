from django.db import migrations, models


class Migration(migrations.Migration):
    """Rate-limit windows count any client (an API key, an address, a user), not only keys.
    A window lasts a minute, so the old rows are dropped rather than carried over."""

    dependencies = [
        ("embeddings", "0001_initial"),
    ]

    operations = [
        migrations.DeleteModel(name="RateLimitWindow"),
        migrations.CreateModel(
            name="RateLimitWindow",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("scope", models.CharField(max_length=100)),
                ("window_start", models.DateTimeField(db_index=True)),
                ("count", models.PositiveIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("scope", "window_start"), name="one_window_per_scope"
                    )
                ],
            },
        ),
    ]
