from __future__ import annotations

import itertools
import re

import pytest
from django.test import Client

from searchapp.models import Item, NearDuplicate
from searchapp.search.search_model import embedding_model_key
from searchapp.services.items import item_add_text, items_set_hidden
from searchapp.views.duplicates import GROUPS_PER_PAGE

pytestmark = pytest.mark.django_db(transaction=True)


def notes(count: int) -> list[Item]:
    items = [item_add_text(text=f"note number {n}")[0] for n in range(count)]
    # Only the pairs each test links count, whatever the test model made of these notes.
    NearDuplicate.objects.all().delete()
    return items


def link(*items: Item, score: float = 0.99) -> None:
    for first, second in itertools.pairwise(items):
        NearDuplicate.objects.create(
            item=first, other=second, model_key=embedding_model_key(), score=score
        )


def card_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'class="card-media" href="/items/(\d+)/"', html)]


def test_signing_in_is_needed(model) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/duplicates/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/duplicates/")


def test_groups_show_their_items_as_cards_newest_group_first(user_client: Client) -> None:
    a, b, c, d, e = notes(5)
    link(a, b, c)
    link(d, e, score=0.98)

    html = user_client.get("/duplicates/").content.decode()

    assert card_ids(html) == [e.pk, d.pk, c.pk, b.pk, a.pk]
    assert "2 groups" in html
    assert html.count("near-identical items") == 2
    assert "Open this group in the admin" not in html


def test_pairs_below_the_threshold_and_hidden_items_are_left_out(
    user_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    a, b, c, d, e = notes(5)
    link(a, b)
    link(c, d, score=0.95)
    link(d, e)
    items_set_hidden(items=Item.objects.filter(pk=e.pk), hidden=True)

    assert card_ids(user_client.get("/duplicates/").content.decode()) == [b.pk, a.pk]
    settings.SEARCH_DUPLICATE_MIN_SCORE = 0.9
    assert card_ids(user_client.get("/duplicates/").content.decode()) == [d.pk, c.pk, b.pk, a.pk]


def test_groups_are_paged(user_client: Client) -> None:
    items = notes(2 * (GROUPS_PER_PAGE + 2))
    for first, second in zip(items[::2], items[1::2], strict=True):
        link(first, second)

    first_page = user_client.get("/duplicates/").content.decode()
    last_page = user_client.get("/duplicates/", {"page": "2"}).content.decode()

    assert len(card_ids(first_page)) == 2 * GROUPS_PER_PAGE
    assert card_ids(last_page) == [items[3].pk, items[2].pk, items[1].pk, items[0].pk]
    assert 'href="?page=2"' in first_page and 'href="?page=1"' in last_page
    assert user_client.get("/duplicates/", {"page": "nonsense"}).status_code == 200


def test_staff_get_a_link_to_the_group_in_the_admin(admin_client: Client) -> None:
    a, b = notes(2)
    link(a, b)

    html = admin_client.get("/duplicates/").content.decode()
    changelist = admin_client.get(f"/admin/searchapp/item/?id__in={b.pk},{a.pk}")

    assert f'href="/admin/searchapp/item/?id__in={b.pk},{a.pk}"' in html
    assert changelist.status_code == 200 and "2 items" in changelist.content.decode()


def test_an_empty_library_says_there_are_no_near_duplicates(user_client: Client) -> None:
    html = user_client.get("/duplicates/").content.decode()

    assert "No near duplicates" in html


def test_the_admin_filters_items_by_whether_they_have_near_duplicates(
    admin_client: Client,
) -> None:
    a, b, c = notes(3)
    link(a, b)
    items_set_hidden(items=Item.objects.filter(pk=b.pk), hidden=True)

    with_duplicates = admin_client.get("/admin/searchapp/item/?near_duplicates=yes")
    without = admin_client.get("/admin/searchapp/item/?near_duplicates=no")

    assert {item.pk for item in with_duplicates.context["cl"].result_list} == {a.pk, b.pk}
    assert [item.pk for item in without.context["cl"].result_list] == [c.pk]
