from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WxPayMediaConfig(AppConfig):
    name = "django_wxpay_media"
    verbose_name = _("WeChat Pay feedback images")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks (run by ``manage.py check``, never at import)
        # and the receiver that drops the cached client when WXPAY_MEDIA changes.
        from . import checks, conf, signals  # noqa: F401
