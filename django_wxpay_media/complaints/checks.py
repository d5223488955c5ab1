"""System checks of the complaint desk (``manage.py check``), ids ``wxpay_complaints.*``."""

from __future__ import annotations

from typing import Any

from django.core import checks

from .. import conf

TAG = "wxpay_complaints"


@checks.register(TAG)
def check_apiv3_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Complaint notifications are encrypted with the APIv3 key: without it none can be read."""
    options = conf.user_settings()
    if not isinstance(options, dict):
        return []  # django_wxpay_media.E001/E002 say what to do first
    if options.get("APIV3_KEY"):
        return []
    return [
        checks.Warning(
            f"{conf.SETTING_NAME} has no APIV3_KEY, so complaint notifications cannot be decrypted.",
            hint=f"Add {conf.SETTING_NAME}['APIV3_KEY'] (the 32-character key set on the merchant platform); "
            "it is needed for notifications also in WeChat Pay public key mode.",
            id="wxpay_complaints.W001",
        )
    ]
