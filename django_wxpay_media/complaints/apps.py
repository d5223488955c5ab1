from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WxPayComplaintsConfig(AppConfig):
    name = "django_wxpay_media.complaints"
    label = "wxpay_complaints"
    verbose_name = _("WeChat Pay complaints")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps

        from . import checks  # noqa: F401  (registers the system checks)

        if apps.is_installed("django.contrib.admin"):
            from . import saved_replies_admin  # noqa: F401  (registers SavedReply)
