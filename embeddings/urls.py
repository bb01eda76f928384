from __future__ import annotations

from django.urls import path

from embeddings.api import views

app_name = "embeddings"

urlpatterns = [
    path("v1.2/embed", views.embed, name="embed-v1.2"),
    path("v1.3/embed", views.embed, name="embed-v1.3"),
    path("openapi.json", views.openapi, name="openapi"),
]
