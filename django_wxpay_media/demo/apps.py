from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    name = "django_wxpay_media.demo"
    label = "wxpay_demo"
    verbose_name = _("WeChat Pay complaint replies (demo)")
    default_auto_field = "django.db.models.BigAutoField"
