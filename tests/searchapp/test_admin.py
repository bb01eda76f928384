from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from bench.media_factory import make_audio, make_image
from searchapp.browsing import EMBEDDING_MODEL_KEYS
from searchapp.models import Item, Modality, Status
from searchapp.services.items import (
    ItemDetails,
    item_add_file,
    item_add_text,
    item_update_details,
    items_delete,
)

pytestmark = pytest.mark.django_db(transaction=True)


def action(client: Client, name: str, items: list[Item], **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/admin/searchapp/item/",
        {"action": name, "_selected_action": [item.pk for item in items], **extra},
        follow=True,
    )


def test_item_list_shows_previews_and_filters(admin_client: Client) -> None:
    item_add_file(data=make_image("png"), filename="a.png")
    item_add_file(data=make_audio("wav", seconds=1.0), filename="b.wav")

    response = admin_client.get("/admin/searchapp/item/?modality__exact=audio")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<audio" in html and "b.wav" in html
    assert "a.png" not in html
    assert "<img" in admin_client.get("/admin/searchapp/item/").content.decode()


def test_item_page_shows_an_item_waits_for_the_model_without_server_paths(
    admin_client: Client, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = str(tmp_path / "gone")
    item, _ = item_add_text(text="call the plumber")

    html = admin_client.get(f"/admin/searchapp/item/{item.pk}/change/").content.decode()

    assert "Waiting for the model" in html
    assert str(tmp_path) not in html and "Error:" not in html


def test_hide_and_show_actions(admin_client: Client) -> None:
    item, _ = item_add_text(text="private")

    action(admin_client, "hide", [item])
    item.refresh_from_db()
    assert item.hidden and item.embeddings.get().hidden
    assert not item.hidden_by_owner  # a curator's hide stands against the uploader

    action(admin_client, "show", [item])
    item.refresh_from_db()
    assert not item.hidden and not item.embeddings.get().hidden


def test_add_tag_action_asks_for_the_tag(admin_client: Client) -> None:
    items = [item_add_text(text="a")[0], item_add_text(text="b")[0]]

    form = action(admin_client, "add_tag", items)
    assert "Add a tag to 2 items" in form.content.decode()
    action(admin_client, "add_tag", items, apply="1", tag="Field Recording")

    assert [item.tags for item in Item.objects.order_by("pk")] == [["field recording"]] * 2


def test_delete_action_removes_files(admin_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_image("png"), filename="a.png")

    action(admin_client, "delete_with_files", [item])

    assert Item.objects.count() == 0
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_reembed_action_queues_items(admin_client: Client) -> None:
    item, _ = item_add_text(text="a")

    response = action(admin_client, "reembed", [item])

    assert "Queued 1 items" in response.content.decode()


def test_curators_cannot_add_items_without_a_file_in_the_admin(admin_client: Client) -> None:
    assert admin_client.get("/admin/searchapp/item/add/").status_code == 403


def test_non_staff_cannot_curate(user_client: Client) -> None:
    item, _ = item_add_text(text="a")

    response = action(user_client, "hide", [item])

    item.refresh_from_db()
    assert not item.hidden
    assert "/admin/login/" in response.redirect_chain[-1][0]


def filter_choices(client: Client, parameter: str) -> list[str]:
    html = client.get("/admin/searchapp/item/").content.decode()
    return re.findall(rf'href="\?{parameter}=([^"&]+)"', html)


def test_the_tag_filter_lists_the_tags_items_have_as_they_are_added_changed_and_deleted(
    admin_client: Client,
) -> None:
    harbour, _ = item_add_text(text="gulls", details=ItemDetails(tags=["harbour", "birds"]))
    night, _ = item_add_text(text="lamps", details=ItemDetails(tags=["night"]))
    assert filter_choices(admin_client, "tag") == ["birds", "harbour", "night"]

    item_update_details(item=harbour, details=ItemDetails(tags=["harbour", "sea"]))
    action(admin_client, "add_tag", [night], apply="1", tag="city")
    assert filter_choices(admin_client, "tag") == ["city", "harbour", "night", "sea"]

    items_delete(items=Item.objects.filter(pk=night.pk))
    assert filter_choices(admin_client, "tag") == ["harbour", "sea"]


def test_the_model_filter_reads_one_index_entry_per_model_however_many_items(
    admin_client: Client,
) -> None:
    Item.objects.bulk_create(
        Item(
            modality=Modality.TEXT,
            text=f"note {index}",
            content_hash=f"{index:064x}",
            status=Status.READY,
            embedded_with=("model-a", "model-b")[index % 2],
        )
        for index in range(3_000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE searchapp_item")
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {EMBEDDING_MODEL_KEYS}")
        ((plan,),) = cursor.fetchall()

    item_scans = [node for node in plan_nodes(plan[0]["Plan"]) if node.get("Relation Name")]
    assert filter_choices(admin_client, "model") == ["model-a", "model-b"]
    assert {node["Node Type"] for node in item_scans} <= {"Index Only Scan", "Index Scan"}
    assert sum(node["Actual Rows"] * node["Actual Loops"] for node in item_scans) <= 3


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)
