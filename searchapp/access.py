"""Who may open and who may manage an item: one rule for the item page, its media, the upload
rows, the API and the answer to an upload of content already in the library.

- Anyone who may search opens an item that is not hidden.
- A hidden item opens for staff, and for its uploader when the uploader hid it: an owner's
  hide keeps it out of search and of everyone else's sight. A curator's hide (staff, or the
  admin) stands against the uploader too, who then gets a 404 like everyone else.
- Its uploader and staff manage an item they can open: edit, hide and show, delete, retry.
- API keys name no person: through the API, hidden items do not exist.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from searchapp.models import Item

Person = AbstractBaseUser | AnonymousUser | None


def is_staff(person: Person) -> bool:
    return bool(
        person is not None and person.is_authenticated and getattr(person, "is_staff", False)
    )


def can_open(person: Person, item: Item) -> bool:
    if not item.hidden or is_staff(person):
        return True
    return item.hidden_by_owner and _is_uploader(person, item)


def can_manage(person: Person, item: Item) -> bool:
    return can_open(person, item) and (is_staff(person) or _is_uploader(person, item))


def openable_items(person: Person) -> QuerySet[Item]:
    if is_staff(person):
        return Item.objects.all()
    visible = Q(hidden=False)
    if person is not None and person.is_authenticated:
        visible |= Q(hidden_by_owner=True, added_by_id=person.pk)
    return Item.objects.filter(visible)


def _is_uploader(person: Person, item: Item) -> bool:
    return person is not None and person.is_authenticated and item.added_by_id == person.pk
