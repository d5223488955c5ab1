from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FormExampleConfig(AppConfig):
    name = "tests.formexample"
    label = "formexample"
    verbose_name = _("WeChat Pay complaint replies (demo)")
    default_auto_field = "django.db.models.BigAutoField"
