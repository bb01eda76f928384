from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from searchapp import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("", include("embeddings.urls")),
]
