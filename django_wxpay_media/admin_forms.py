"""The admin's add form for feedback images (the admin's own views live in ``admin/``).

The form only *validates* the file: a file WeChat Pay would refuse is a field error
and nothing is stored or sent. The add view uploads a valid file once the form is
valid, outside any transaction, and reports the outcome.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

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
