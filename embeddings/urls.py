from __future__ import annotations

from django.urls import include, path

from embeddings.api import tasks, v2_views, views

app_name = "embeddings"

urlpatterns = [
    path("v1.2/embed", views.embed, name="embed-v1.2"),
    path("v1.3/embed", views.embed, name="embed-v1.3"),
    path("v1.3/embed-v2", v2_views.embed_v2, name="embed-v2"),
    *[
        route
        for version in ("v1.2", "v1.3")
        for route in (
            path(f"{version}/embed/tasks", tasks.v1_tasks, name=f"embed-tasks-{version}"),
            path(f"{version}/embed/tasks/<str:task_id>", tasks.v1_task),
            path(f"{version}/embed/tasks/<str:task_id>/status", tasks.v1_task_status),
        )
    ],
    path("v1.3/embed-v2/tasks", tasks.v2_tasks, name="embed-v2-tasks"),
    path("v1.3/embed-v2/tasks/<str:task_id>", tasks.v2_task),
    path("openapi.json", views.openapi, name="openapi"),
    path("", include("embeddings.inference.urls")),
]
