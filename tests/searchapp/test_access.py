from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from bench.media_factory import make_image
from searchapp.access import can_manage, can_open, openable_items
from searchapp.models import Item
from searchapp.services.items import HiddenDuplicate, item_add_file, items_set_hidden

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(django_user_model):  # type: ignore[no-untyped-def]
    return {
        "owner": django_user_model.objects.create_user("owner", password="a-long-password-1"),
        "other": django_user_model.objects.create_user("other", password="a-long-password-1"),
        "staff": django_user_model.objects.create_user(
            "staff", password="a-long-password-1", is_staff=True
        ),
        "visitor": AnonymousUser(),
        "api key": None,
    }


def owned_image(owner) -> Item:  # type: ignore[no-untyped-def]
    return item_add_file(data=make_image("png"), filename="a.png", added_by=owner)[0]


def hide(item: Item, *, by_owner: bool) -> Item:
    items_set_hidden(items=Item.objects.filter(pk=item.pk), hidden=True, by_owner=by_owner)
    return Item.objects.get(pk=item.pk)


# (who, opens a visible item, manages it, opens it hidden by its owner, opens it hidden by staff)
RULE = [
    ("owner", True, True, True, False),
    ("other", True, False, False, False),
    ("staff", True, True, True, True),
    ("visitor", True, False, False, False),
    ("api key", True, False, False, False),
]


@pytest.mark.parametrize(("who", "opens", "manages", "opens_own_hide", "opens_curators"), RULE)
def test_one_rule_says_who_opens_and_manages_an_item(
    people, who: str, opens: bool, manages: bool, opens_own_hide: bool, opens_curators: bool
) -> None:  # type: ignore[no-untyped-def]
    person = people[who]
    item = owned_image(people["owner"])
    assert (can_open(person, item), can_manage(person, item)) == (opens, manages)

    hidden_by_owner = hide(item, by_owner=True)
    assert can_open(person, hidden_by_owner) == opens_own_hide
    assert openable_items(person).filter(pk=item.pk).exists() == opens_own_hide

    hidden_by_curator = hide(item, by_owner=False)
    assert can_open(person, hidden_by_curator) == opens_curators
    assert can_manage(person, hidden_by_curator) == (opens_curators and manages)
    assert openable_items(person).filter(pk=item.pk).exists() == opens_curators


@pytest.mark.parametrize(("who", "opens", "manages", "opens_own_hide", "opens_curators"), RULE)
def test_uploading_a_hidden_items_content_again_follows_the_same_rule(
    people, who: str, opens: bool, manages: bool, opens_own_hide: bool, opens_curators: bool
) -> None:  # type: ignore[no-untyped-def]
    person = people[who] if who != "visitor" else None
    item = owned_image(people["owner"])

    for by_owner, opens_it in ((True, opens_own_hide), (False, opens_curators)):
        hide(item, by_owner=by_owner)
        if opens_it:
            assert item_add_file(data=make_image("png"), filename="b.png", added_by=person) == (
                item,
                False,
            )
        else:
            with pytest.raises(HiddenDuplicate):
                item_add_file(data=make_image("png"), filename="b.png", added_by=person)
