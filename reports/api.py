"""``/api/v1/``: the reports router (registered in ``mysite/api/v1.py``)."""

from ninja import Router

router = Router(tags=["reports"])
