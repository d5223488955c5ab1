"""The file inputs of the image fields: the browser's picker offers JPEG, PNG and BMP."""

from __future__ import annotations

from typing import Any

from django import forms

#: What the file inputs offer in the browser's file picker (the server checks the bytes anyway).
ACCEPT = "image/jpeg,image/png,image/bmp,.jpg,.jpeg,.png,.bmp"


class FeedbackImageInput(forms.FileInput):
    """A file input whose picker offers JPEG, PNG and BMP files."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"accept": ACCEPT, **(attrs or {})})


class MultipleFeedbackImageInput(FeedbackImageInput):
    """The same input with ``multiple``: its value is a list of uploaded files."""

    allow_multiple_selected = True
