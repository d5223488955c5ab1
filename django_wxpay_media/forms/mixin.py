"""The form mixin: ``user=`` for the image fields, and how the form's uploads went."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from ..outcome import UploadOutcome
from .fields import FeedbackImageField, UploadsCallback

if TYPE_CHECKING:  # pragma: no cover
    from django.contrib.auth.models import AbstractBaseUser


class FeedbackImageFormMixin:
    """Pass ``user=`` to a form (recorded as ``uploaded_by``) and learn how its uploads went.

    Mix in before :class:`~django.forms.Form` or :class:`~django.forms.ModelForm`::

        class ReplyForm(FeedbackImageFormMixin, forms.ModelForm): ...


        form = ReplyForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            form.save()
            form.on_uploads_done(lambda outcomes: ...)  # after the commit, or now

    Where the form is built for you (the admin), set the class attribute
    ``upload_user`` on a per-request subclass instead (see
    the README's complaint-reply example, ``tests/formexample/admin.py``).
    """

    #: Default uploader when ``user=`` is not given.
    upload_user: AbstractBaseUser | None = None

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, user: AbstractBaseUser | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        uploader = user if user is not None else self.upload_user
        if uploader is not None and not getattr(uploader, "is_authenticated", True):
            uploader = None  # AnonymousUser cannot be stored in a foreign key
        for field in self._image_fields():  # the form's own copies: safe per request
            field.user = uploader

    def _image_fields(self) -> list[FeedbackImageField]:
        return [field for field in self.fields.values() if isinstance(field, FeedbackImageField)]

    def upload_outcomes(self) -> list[UploadOutcome]:
        """What happened to every file of the form's image fields so far (``QUEUED`` until uploaded)."""
        return [outcome for field in self._image_fields() for outcome in field.outcomes]

    @property
    def uploads_done(self) -> bool:
        """True once every upload the form started has finished."""
        return all(field.uploads_done for field in self._image_fields())

    def on_uploads_done(self, callback: UploadsCallback) -> None:
        """Call ``callback(outcomes)`` once every upload the form started has finished.

        Right away when they have (no transaction, or nothing to upload); else
        after the surrounding transaction commits - still within the request, so
        ``django.contrib.messages`` added there reach the next page. Not called
        if the transaction is rolled back.
        """
        fields = self._image_fields()
        waiting = [field for field in fields if not field.uploads_done]

        def one_done(_: list[UploadOutcome]) -> None:
            if all(field.uploads_done for field in fields):
                callback(self.upload_outcomes())

        if not waiting:
            callback(self.upload_outcomes())
            return
        for field in waiting:
            field.when_done(one_done)
