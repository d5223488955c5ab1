import logging

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger("django_wxpay_media")


class WxPayMediaConfig(AppConfig):
    name = "django_wxpay_media"
    verbose_name = _("WeChat Pay feedback images")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks (run by ``manage.py check``, never at import)
        # and the receiver that drops the cached client when WXPAY_MEDIA changes.
        from . import checks, conf, signals  # noqa: F401

        # Uploads go to task workers: load the tasks, which hand themselves to the services.
        try:
            if conf.background_uploads_backend() is not None:
                from . import tasks  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - no framework or a bad backend: the checks (E027/E028) say so
            logger.warning("The upload tasks could not be loaded; uploads run in the request: %s", exc)
