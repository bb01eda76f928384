from __future__ import annotations

from django import forms

from searchapp.models import Modality
from searchapp.services.items import MAX_DESCRIPTION_CHARACTERS, MAX_TEXT_CHARACTERS

# Longer word queries overflow PostgreSQL's stack when parsed into a tsquery.
MAX_QUERY_CHARACTERS = 2000


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=MAX_QUERY_CHARACTERS, strip=True, label="Search")
    modality = forms.ChoiceField(
        required=False, choices=[("", "All"), *Modality.choices], label="Type"
    )
    tag = forms.CharField(required=False, max_length=64, strip=True)
    min_score = forms.FloatField(required=False, min_value=-1.0, max_value=1.0)
    semantic = forms.BooleanField(required=False, label="Semantic ranking only")
    item = forms.IntegerField(required=False, min_value=1)
    page = forms.IntegerField(required=False, min_value=1, max_value=1000)
    query_file = forms.FileField(required=False)


class TextNoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=MAX_TEXT_CHARACTERS)
    title = forms.CharField(required=False, max_length=255)
    tags = forms.CharField(required=False, max_length=500, help_text="Comma-separated")


class UploadForm(forms.Form):
    file = forms.FileField()
    title = forms.CharField(required=False, max_length=255)
    description = forms.CharField(required=False, max_length=MAX_DESCRIPTION_CHARACTERS)
    tags = forms.CharField(required=False, max_length=500)


class ItemDetailsForm(forms.Form):
    title = forms.CharField(required=False, max_length=255)
    description = forms.CharField(
        required=False,
        max_length=MAX_DESCRIPTION_CHARACTERS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    tags = forms.CharField(required=False, max_length=500, help_text="Comma-separated")


def split_tags(raw: str) -> list[str]:
    return [tag for tag in (part.strip() for part in raw.split(",")) if tag]
