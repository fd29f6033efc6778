"""Every list is a page: ``?limit=&offset=``, with ``count`` and ``next``/``previous`` links.

``@paginate(Page)`` on a router operation that returns a queryset (ordered,
so pages don't overlap). ``limit`` is at most ``API_PAGE_SIZE_MAX``.
"""

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from ninja import Field, Schema
from ninja.pagination import PaginationBase

OFFSET_MAX = 10**9  # far past any list; keeps OFFSET inside the database's integer


class Page(PaginationBase):
    class Input(Schema):
        limit: int = Field(settings.API_PAGE_SIZE, ge=1, le=settings.API_PAGE_SIZE_MAX)
        offset: int = Field(0, ge=0, le=OFFSET_MAX)

    class Output(Schema):
        count: int
        next: str | None
        previous: str | None
        items: list[Any]

    items_attribute = "items"

    def paginate_queryset(self, queryset: QuerySet, pagination: Input, request, **params):
        limit, offset = pagination.limit, pagination.offset
        count = self._items_count(queryset)
        items = list(queryset[offset : offset + limit])
        following = offset + limit if offset + limit < count else None
        preceding = max(offset - limit, 0) if offset > 0 else None
        return {
            "count": count,
            "next": None if following is None else page_url(request, limit, following),
            "previous": None if preceding is None else page_url(request, limit, preceding),
            "items": items,
        }


def page_url(request, limit: int, offset: int) -> str:
    query = request.GET.copy()
    query["limit"] = str(limit)
    query["offset"] = str(offset)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
