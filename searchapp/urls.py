from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from searchapp import api
from searchapp.views import duplicates, items, search, upload, viewer

handler400 = "searchapp.errors.bad_request"
handler403 = "searchapp.errors.forbidden"
handler404 = "searchapp.errors.not_found"

urlpatterns = [
    path("", search.search_page, name="search"),
    path("search/file", search.search_file, name="search-file"),
    path("search/file/<str:key>/preview", search.search_file_preview, name="search-file-preview"),
    path("upload/", upload.upload_page, name="upload"),
    path("upload/file", upload.upload_file, name="upload-file"),
    path("upload/note", upload.add_note, name="add-note"),
    path("duplicates/", duplicates.duplicates_page, name="duplicates"),
    path("items/<int:pk>/", items.item_detail, name="item"),
    path("items/<int:pk>/viewer", viewer.item_viewer, name="item-viewer"),
    path("items/<int:pk>/row", upload.item_row, name="item-row"),
    path("items/<int:pk>/media", items.item_media, name="item-media"),
    path("items/<int:pk>/thumbnail", items.item_thumbnail, name="item-thumbnail"),
    path("items/<int:pk>/preview", items.item_preview, name="item-preview"),
    path("items/<int:pk>/edit", items.edit_item, name="item-edit"),
    path("items/<int:pk>/hide", items.hide_item, name="item-hide"),
    path("items/<int:pk>/show", items.show_item, name="item-show"),
    path("items/<int:pk>/delete", items.delete_item, name="item-delete"),
    path("items/<int:pk>/retry", items.retry_item, name="item-retry"),
    path("api/items", api.items, name="api-items"),
    path("api/items/<int:pk>", api.item, name="api-item"),
    path("api/search", api.search, name="api-search"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("embeddings.urls")),
]
