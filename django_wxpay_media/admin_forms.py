"""The admin's add form for feedback images (the admin's own views live in ``admin/``).

The form only *validates* the file: a file WeChat Pay would refuse is a field error
and nothing is stored or sent. The add view uploads a valid file once the form is
valid, outside any transaction, and reports the outcome.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from . import conf
from .forms import FeedbackImageField

__all__ = ["FeedbackImageAddForm"]


class FeedbackImageAddForm(forms.Form):
    """One image, checked like WeChat Pay checks it; ``cleaned_data["upload"]`` is the file."""

    upload = FeedbackImageField(
        label=_("Image"),
        upload=False,  # the add view uploads, so that a failure keeps the record and is reported on it
        help_text=_(
            "A JPEG, PNG or BMP image of at most 2 MB. It is uploaded to WeChat Pay when you save; "
            "an image that was uploaded before is reused and not sent again."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Which merchant the image is for: asked only when the site has several accounts.
        try:
            names = conf.account_names()
        except ImproperlyConfigured:  # the add view says the settings are wrong
            names = (conf.DEFAULT_ACCOUNT,)
        if len(names) > 1:
            self.fields["account"] = forms.ChoiceField(
                label=_("Merchant account"),
                choices=[(name, _account_label(name)) for name in names],
                initial=conf.DEFAULT_ACCOUNT,
                help_text=_("The merchant the image is uploaded for; a reply can use it only for that merchant."),
            )
            self.order_fields(["account", "upload"])


def _account_label(name: str) -> str:
    try:
        return f"{name} ({conf.get_account(name).mchid})"
    except ImproperlyConfigured:  # an account with a key problem is still listed; uploading says why
        return name
