from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.db import models
from django.utils.text import capfirst

from embeddings.errors import InputError
from searchapp import conf
from searchapp.models import Modality
from searchapp.search.library import LibraryQuery, excluded_item_ids
from searchapp.search.query_vectors import MediaQuery
from searchapp.search.selectors import SearchFilters
from searchapp.services.items import MAX_DESCRIPTION_CHARACTERS, MAX_TEXT_CHARACTERS

# Longer word queries overflow PostgreSQL's stack when parsed into a tsquery.
MAX_QUERY_CHARACTERS = 2000


# A file query's key (services/query_files.py): URL-safe base64 of 16 random bytes, 22 characters.
QUERY_FILE_KEY = r"^[A-Za-z0-9_-]{1,43}$"
MAX_PAGE = 1000


class Sort(models.TextChoices):
    RELEVANCE = "", "Best match"
    NEWEST = "newest", "Newest first"


class SearchForm(forms.Form):
    """The search page's URL parameters. Its messages are read by people, so they name no
    field."""

    q = forms.CharField(
        required=False,
        max_length=MAX_QUERY_CHARACTERS,
        strip=True,
        label="Search",
        error_messages={
            "max_length": "The search text is too long: at most %(limit_value)d characters "
            "(it has %(show_value)d)."
        },
    )
    qf = forms.RegexField(
        regex=QUERY_FILE_KEY,
        required=False,
        error_messages={
            "invalid": "This link to a file search is damaged: search with the file again."
        },
    )
    item = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={
            "invalid": "“More like this” needs an item number.",
            "min_value": "“More like this” needs an item number.",
        },
    )
    modality = forms.ChoiceField(
        required=False,
        choices=[("", "All"), *Modality.choices],
        label="Type",
        error_messages={"invalid_choice": "The type is one of: image, audio, video, text."},
    )
    tag = forms.CharField(
        required=False,
        max_length=64,
        strip=True,
        error_messages={"max_length": "A tag is at most %(limit_value)d characters long."},
    )
    by = forms.CharField(
        required=False,
        max_length=150,
        strip=True,
        label="Added by",
        error_messages={"max_length": "A user name is at most %(limit_value)d characters long."},
    )
    exclude = forms.CharField(required=False, max_length=1000, label="Less like")
    min_score = forms.FloatField(
        required=False,
        min_value=-1.0,
        max_value=1.0,
        error_messages={
            key: "The minimum similarity is a number from -1 to 1."
            for key in ("invalid", "min_value", "max_value")
        },
    )
    semantic = forms.BooleanField(required=False, label="Semantic ranking only")
    sort = forms.ChoiceField(
        required=False,
        choices=Sort.choices,
        error_messages={"invalid_choice": "Results are sorted by best match or newest first."},
    )
    page = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PAGE,
        error_messages={
            key: f"There is no such page: pages go from 1 to {MAX_PAGE}."
            for key in ("invalid", "min_value", "max_value")
        },
    )

    def clean_exclude(self) -> tuple[int, ...]:
        """The items marked "less like this", comma-separated ids ("12,40")."""
        try:
            return excluded_item_ids([self.cleaned_data["exclude"]])
        except InputError as error:
            raise forms.ValidationError(capfirst(str(error))) from error

    @property
    def problem(self) -> str:
        return form_problem(self)

    @property
    def asks(self) -> bool:
        """Whether this is a search (words, a file or an item), not browsing the library."""
        data = self.cleaned_data
        return bool(data["q"] or data["qf"] or data["item"])

    def clean_min_score(self) -> float:
        chosen = self.cleaned_data["min_score"]
        return float(conf.SEARCH_MIN_SCORE.value()) if chosen is None else float(chosen)

    def query(
        self,
        *,
        page: int,
        page_size: int,
        text: str | None = None,
        media: MediaQuery | None = None,
        file_bytes: bytes | None = None,
    ) -> LibraryQuery:
        """The search these parameters ask for; `text` instead of `q` (a kept file's words)."""
        data = self.cleaned_data
        return LibraryQuery(
            text=data["q"] if text is None else text,
            file_bytes=file_bytes,
            media=media,
            item_id=data["item"],
            exclude_item_ids=data["exclude"],
            filters=SearchFilters(
                modality=data["modality"] or None,
                tag=data["tag"] or None,
                min_score=data["min_score"],
            ),
            page=page,
            page_size=page_size,
            semantic_only=data["semantic"],
        )


DEFAULT_API_LIMIT = 20
MAX_API_LIMIT = 100


class ApiSearchForm(SearchForm):
    """POST /api/search: the search page's parameters under the API's names, and `limit`."""

    API_NAMES = {"q": "text", "item": "item_id", "exclude": "exclude_item_ids"}
    PAGE_ONLY = ("qf", "by", "sort")

    limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_API_LIMIT,
        error_messages={
            key: f"A page holds 1 to {MAX_API_LIMIT} results."
            for key in ("invalid", "min_value", "max_value")
        },
    )

    def __init__(self, api_data: Mapping[str, list[str]]) -> None:
        """`api_data`: each field's values (QueryDict.lists()); ids to exclude may repeat."""
        fields = {name: name for name in self.base_fields if name not in self.PAGE_ONLY}
        for field, api_name in self.API_NAMES.items():
            fields[api_name] = fields.pop(field)
        # NUL characters are dropped, as /api/items drops them from what it stores.
        super().__init__(
            {
                fields[name]: (
                    ",".join(values) if fields[name] == "exclude" else values[-1]
                ).replace("\x00", "")
                for name, values in api_data.items()
                if name in fields and values
            }
        )

    def clean(self) -> dict[str, Any]:
        # No deeper than the search page reaches (its last page), so that page and limit
        # together cannot make a search read more candidates than the page can.
        data = super().clean() or {}
        deepest = MAX_PAGE * conf.SEARCH_PAGE_SIZE.value()
        if (data.get("page") or 1) * (data.get("limit") or DEFAULT_API_LIMIT) > deepest:
            self.add_error("page", f"Results go {deepest} deep: page × limit is at most that.")
        return data

    @property
    def problem(self) -> str:
        """The first error, as `api_name: message`."""
        name, errors = next(iter(self.errors.items()))
        return f"{self.API_NAMES.get(name, name)}: {errors[0]}"


class QueryFileForm(SearchForm):
    """A file to search with, and the filters its search starts with."""

    query_file = forms.FileField(
        error_messages={
            "required": "Choose an image or a sound to search with.",
            "empty": "The file is empty.",
            "invalid": "The file did not arrive whole; try again.",
        },
    )


def form_problem(form: forms.Form) -> str:
    """A form's errors as sentences for people: the fields' own messages, no field names."""
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


def _at_most(what: str) -> dict[str, str]:
    return {
        "max_length": f"{what} is at most %(limit_value)d characters long (it has %(show_value)d)."
    }


class TextNoteForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_TEXT_CHARACTERS,
        error_messages={
            "required": "A note needs some text: spaces alone are not a note.",
            **_at_most("A note"),
        },
    )
    title = forms.CharField(required=False, max_length=255, error_messages=_at_most("A title"))
    tags = forms.CharField(
        required=False,
        max_length=500,
        help_text="Comma-separated",
        error_messages=_at_most("The list of tags"),
    )


class UploadForm(forms.Form):
    file = forms.FileField(
        error_messages={
            "required": "Choose a file to add.",
            "empty": "The file is empty.",
            "invalid": "The file did not arrive whole; try again.",
        }
    )
    title = forms.CharField(required=False, max_length=255, error_messages=_at_most("A title"))
    description = forms.CharField(
        required=False,
        max_length=MAX_DESCRIPTION_CHARACTERS,
        error_messages=_at_most("A description"),
    )
    tags = forms.CharField(
        required=False, max_length=500, error_messages=_at_most("The list of tags")
    )


class ItemDetailsForm(forms.Form):
    title = forms.CharField(required=False, max_length=255, error_messages=_at_most("A title"))
    description = forms.CharField(
        required=False,
        max_length=MAX_DESCRIPTION_CHARACTERS,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages=_at_most("A description"),
    )
    tags = forms.CharField(
        required=False,
        max_length=500,
        help_text="Comma-separated",
        error_messages=_at_most("The list of tags"),
    )


def split_tags(raw: str) -> list[str]:
    return [tag for tag in (part.strip() for part in raw.split(",")) if tag]
