"""Entry point of the processes spawned by the race tests in ``test_services.py``.

Kept free of Django imports at module level: a ``spawn`` child imports this module
before Django is set up, and sets it up itself on the parent's test database.
"""

from __future__ import annotations

import os
from typing import Any


def upload_in_child(
    db_name: str, wxpay_media: dict[str, Any], media_root: str, data: bytes, barrier: Any, results: Any
) -> None:
    """Upload ``data`` with ``services.upload_image`` once every sibling is ready; report on ``results``."""
    try:
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        from django.conf import settings

        settings.DATABASES["default"]["NAME"] = db_name  # the parent's *test* database
        settings.MEDIA_ROOT = media_root  # tests.settings makes a new temp dir per process
        import django

        django.setup()
        settings.WXPAY_MEDIA = wxpay_media
        from django_wxpay_media import services

        barrier.wait(timeout=60)
        image = services.upload_image(data)
        results.put(("ok", image.pk, image.media_id))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put(("error", type(exc).__name__, str(exc)))
