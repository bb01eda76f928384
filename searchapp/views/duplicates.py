from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from searchapp import conf
from searchapp.search.search_model import search_model_key
from searchapp.search.selectors import hits_with_items, near_duplicate_groups
from searchapp.views.pages import model_banner

GROUPS_PER_PAGE = 10


@login_required
@require_GET
def duplicates_page(request: HttpRequest) -> HttpResponse:
    min_score = conf.SEARCH_DUPLICATE_MIN_SCORE.value()
    groups = near_duplicate_groups(model_key=search_model_key(), min_score=min_score)
    page = Paginator(groups, GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    hits_with_items(hit for group in page.object_list for hit in group)
    return render(
        request,
        "searchapp/duplicates.html",
        {"page": page, "min_score": min_score, "model_problem": model_banner(request)},
    )
