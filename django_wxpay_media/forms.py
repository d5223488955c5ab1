"""Form fields that validate an image and upload it to WeChat Pay while the form cleans.

``FeedbackImageField`` takes one file, ``FeedbackImagesField`` several (at most
``WXPAY_MEDIA["MAX_FILES"]``, 4 by default: the most a complaint reply carries).
Each file is checked the way WeChat Pay checks it (JPEG, PNG or BMP by content, 1
byte to 2 MB) before anything is sent; then it is uploaded through
:func:`django_wxpay_media.services.upload_image` and the field's cleaned value is
the :class:`~django_wxpay_media.models.FeedbackImage` record (or a list of them),
whose ``media_id`` a complaint reply can use.

Every problem, a bad file or an error from WeChat Pay, becomes an ordinary,
translated field error; a valid image whose upload failed is kept as a *failed*
record (by the service) and can be retried later, so nothing the staff member
chose is lost.

Example, a reply form for a model of your own::

    from django import forms
    from django_wxpay_media.forms import FeedbackImageFormMixin, FeedbackImagesField

    class ReplyForm(FeedbackImageFormMixin, forms.Form):
        content = forms.CharField(widget=forms.Textarea)
        images = FeedbackImagesField(required=False)

    form = ReplyForm(request.POST, request.FILES, user=request.user)
    if form.is_valid():
        media_ids = [image.media_id for image in form.cleaned_data["images"]]

Uploading happens in ``clean()``, so it happens even when another field of the
same form is invalid; nothing is lost by that: the records exist, and submitting
the same bytes again reuses them without a second request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from .exceptions import UploadFailed, user_message
from .wechatpay import MAX_IMAGE_SIZE, prepare_image
from .wechatpay import errors as wxerrors

if TYPE_CHECKING:  # pragma: no cover
    from django.contrib.auth.models import AbstractBaseUser

    from .models import FeedbackImage

__all__ = [
    "ACCEPT",
    "FeedbackImageField",
    "FeedbackImageFormMixin",
    "FeedbackImageInput",
    "FeedbackImagesField",
    "MultipleFeedbackImageInput",
]

logger = logging.getLogger("django_wxpay_media")

#: What the file inputs offer in the browser's file picker (the server checks the bytes anyway).
ACCEPT = "image/jpeg,image/png,image/bmp,.jpg,.jpeg,.png,.bmp"

#: What services.upload_image() may raise that a form turns into a field error.
UPLOAD_ERRORS = (wxerrors.WeChatPayError, UploadFailed, ImproperlyConfigured, OSError)

# Error codes of ImageValidationError -> keys of the fields' error_messages.
_VALIDATION_CODES = {
    "EMPTY_FILE": "empty",
    "FILE_TOO_LARGE": "file_too_large",
    "UNSUPPORTED_FORMAT": "unsupported_format",
}


class FeedbackImageInput(forms.FileInput):
    """A file input whose picker offers JPEG, PNG and BMP files."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"accept": ACCEPT, **(attrs or {})})


class MultipleFeedbackImageInput(FeedbackImageInput):
    """The same input with ``multiple``: its value is a list of uploaded files."""

    allow_multiple_selected = True


class FeedbackImageField(forms.FileField):
    """One image, validated and uploaded to WeChat Pay when the form is cleaned.

    ``cleaned_data[name]`` is the :class:`~django_wxpay_media.models.FeedbackImage`
    with status *uploaded* (a new one, or the existing record of the same bytes),
    or ``None`` when the field is not required and no file was chosen (the initial
    value, if any, when the form is bound with one).

    Arguments, besides those of :class:`django.forms.FileField`:

    ``upload``
        ``True`` (default) to upload in ``clean()``. ``False`` only validates:
        the cleaned value is then the uploaded file itself, for code that calls
        :func:`~django_wxpay_media.services.upload_image` later (for instance after
        every other field of the form is valid).
    ``user``
        Recorded as ``uploaded_by``. Forms usually set it per request through
        :class:`FeedbackImageFormMixin` (``MyForm(..., user=request.user)``).

    Errors (``ValidationError.code``; ``params`` in brackets): ``required``,
    ``invalid``, ``empty`` (filename), ``file_too_large`` (filename, size,
    max_size, both human-readable), ``unsupported_format`` (filename),
    ``invalid_image`` (filename, reason: any other validation failure),
    ``upload_failed`` (filename, reason: the translated cause from
    :func:`django_wxpay_media.exceptions.user_message`, error_code: WeChat Pay's
    code), ``upload_error`` (filename, reason, error_code: a failure that left no
    record), ``not_configured``, ``storage_error`` (filename). Override any message
    with ``error_messages=``.
    """

    widget = FeedbackImageInput
    default_error_messages = {
        "empty": _("“%(filename)s” is empty."),
        "file_too_large": _("“%(filename)s” is %(size)s; WeChat Pay accepts images of at most %(max_size)s."),
        "unsupported_format": _(
            "“%(filename)s” is not a JPEG, PNG or BMP image; WeChat Pay accepts only these formats."
        ),
        "invalid_image": _("“%(filename)s” cannot be sent to WeChat Pay: %(reason)s"),
        "upload_failed": _(
            "“%(filename)s” could not be uploaded to WeChat Pay: %(reason)s "
            "The image has been saved; submit it again later to retry."
        ),
        "upload_error": _("“%(filename)s” could not be uploaded to WeChat Pay: %(reason)s"),
        "storage_error": _(
            "“%(filename)s” could not be stored on this site. Please try again, or contact your administrator."
        ),
        "not_configured": _(
            "Uploading to WeChat Pay is not set up correctly on this site. Please contact your administrator."
        ),
    }

    def __init__(self, *, upload: bool = True, user: AbstractBaseUser | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.upload = upload
        self.user = user

    # -- one file ---------------------------------------------------------------------

    def check_file(self, file: Any) -> bytes:
        """Validate one uploaded file like WeChat Pay would; return its bytes.

        Raises :class:`~django.core.exceptions.ValidationError`; nothing is sent.
        """
        try:  # what FileField.to_python checks, with the file's name in the messages
            filename, size = file.name, file.size
        except AttributeError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not filename:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if self.max_length is not None and len(filename) > self.max_length:
            raise ValidationError(
                self.error_messages["max_length"],
                code="max_length",
                params={"max": self.max_length, "length": len(filename)},
            )
        if not size:
            raise ValidationError(self.error_messages["empty"], code="empty", params={"filename": filename})
        if size > MAX_IMAGE_SIZE:  # before reading a possibly huge upload into memory
            raise self._too_large(filename, size)
        if hasattr(file, "seek"):
            file.seek(0)
        data = file.read()
        try:
            prepare_image(data, filename)
        except wxerrors.ImageValidationError as exc:
            raise self.validation_error(exc, filename) from exc
        self.run_validators(file)
        return data

    def upload_file(self, file: UploadedFile, data: bytes) -> FeedbackImage:
        """Upload validated ``data`` (the bytes of ``file``); return the uploaded record.

        A failure becomes a :class:`~django.core.exceptions.ValidationError` (see
        :meth:`upload_error`); a valid image whose upload failed has been kept by the
        service as a failed record, and submitting it again retries it.
        """
        from . import services  # not at import time: services imports the models

        try:
            return services.upload_image(data, filename=file.name, user=self.user)
        except UPLOAD_ERRORS as exc:
            cause: BaseException = exc.error if isinstance(exc, UploadFailed) and exc.image is None else exc
            # check_file() has already rejected a file without a name.
            raise self.upload_error(cause, cast(str, file.name)) from exc

    def outcome_error(self, outcome: Any, filename: str) -> ValidationError:
        """The field error for an outcome that is not ok."""
        return self.upload_error(outcome.error, filename)

    def upload_error(self, exc: BaseException, filename: str) -> ValidationError:
        """The field error for anything :func:`~django_wxpay_media.services.upload_image` raises."""
        if isinstance(exc, wxerrors.ImageValidationError):
            return self.validation_error(exc, filename)
        if isinstance(exc, UploadFailed):
            return ValidationError(
                self.error_messages["upload_failed"],
                code="upload_failed",
                params={"filename": filename, "reason": user_message(exc.error), "error_code": exc.code},
            )
        if isinstance(exc, (wxerrors.ConfigurationError, ImproperlyConfigured)):
            # A developer's mistake in settings.WXPAY_MEDIA: staff get a polite message,
            # the log keeps the details (`manage.py check` reports them too).
            logger.error("Cannot upload %r to WeChat Pay: %s", filename, exc)
            return ValidationError(self.error_messages["not_configured"], code="not_configured")
        if isinstance(exc, wxerrors.WeChatPayError) or getattr(exc, "code", "") not in ("", "STORAGE_ERROR"):
            logger.error("Cannot upload %r to WeChat Pay: %s", filename, exc)
            return ValidationError(
                self.error_messages["upload_error"],
                code="upload_error",
                params={"filename": filename, "reason": user_message(exc), "error_code": getattr(exc, "code", "")},
            )
        # The file could not be stored (disk full, storage down...).
        logger.error("Cannot store %r for upload to WeChat Pay: %s", filename, exc, exc_info=exc)
        return ValidationError(
            self.error_messages["storage_error"], code="storage_error", params={"filename": filename}
        )

    def validation_error(self, exc: wxerrors.ImageValidationError, filename: str) -> ValidationError:
        """The field error for an :class:`~django_wxpay_media.wechatpay.errors.ImageValidationError`."""
        key = _VALIDATION_CODES.get(exc.code)
        if key == "file_too_large":
            return self._too_large(filename, exc.params.get("size", 0))
        if key is not None:
            return ValidationError(self.error_messages[key], code=key, params={"filename": filename})
        return ValidationError(
            self.error_messages["invalid_image"],
            code="invalid_image",
            params={"filename": filename, "reason": user_message(exc)},
        )

    def _too_large(self, filename: str, size: int) -> ValidationError:
        return ValidationError(
            self.error_messages["file_too_large"],
            code="file_too_large",
            params={"filename": filename, "size": filesizeformat(size), "max_size": filesizeformat(MAX_IMAGE_SIZE)},
        )

    # -- Field API ----------------------------------------------------------------------

    def clean(self, data: Any, initial: Any = None) -> Any:
        if self.disabled:
            return initial
        if data is forms.widgets.FILE_INPUT_CONTRADICTION or data is False:
            data = None
        if data in self.empty_values:
            if initial:
                return initial
            if self.required:
                raise ValidationError(self.error_messages["required"], code="required")
            return None
        content = self.check_file(data)
        if not self.upload:
            return data
        return self.upload_file(data, content)

    def bound_data(self, data: Any, initial: Any) -> Any:
        return initial

    def has_changed(self, initial: Any, data: Any) -> bool:
        return not self.disabled and data not in self.empty_values


class FeedbackImagesField(FeedbackImageField):
    """Several images at once (one ``<input type="file" multiple>``).

    ``cleaned_data[name]`` is a list of uploaded
    :class:`~django_wxpay_media.models.FeedbackImage` records in the order the
    files came (the same bytes twice give one record), or ``[]`` when the field is
    not required and nothing was chosen.

    ``max_files``
        The most files one submission may carry; by default
        ``WXPAY_MEDIA["MAX_FILES"]`` (4: the most media_ids a complaint reply takes),
        read when the form is cleaned.

    Every file is validated before any is uploaded, so one bad file means nothing
    is sent; if some uploads then fail, the others are kept (uploaded) and each
    failure is reported. Extra error code: ``too_many_files`` (max, count).
    """

    widget = MultipleFeedbackImageInput
    default_error_messages = {
        "too_many_files": ngettext_lazy(
            "Select at most %(max)d image (you selected %(count)d).",
            "Select at most %(max)d images (you selected %(count)d).",
            "max",
        ),
    }

    def __init__(self, *, max_files: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if max_files is not None and max_files < 1:
            raise ValueError("max_files must be at least 1")
        self._max_files = max_files

    @property
    def max_files(self) -> int:
        """The limit in force: the ``max_files`` argument, else ``WXPAY_MEDIA["MAX_FILES"]``."""
        if self._max_files is not None:
            return self._max_files
        from . import conf

        return int(conf.get_setting("MAX_FILES"))

    @max_files.setter
    def max_files(self, value: int | None) -> None:
        self._max_files = value

    def clean(self, data: Any, initial: Any = None) -> Any:
        if self.disabled:
            return list(initial or [])
        if data is forms.widgets.FILE_INPUT_CONTRADICTION or data is False:
            data = None
        if isinstance(data, (list, tuple)):
            files = [item for item in data if item not in self.empty_values]
        else:
            files = [] if data in self.empty_values else [data]
        if not files:
            if initial:
                return list(initial)
            if self.required:
                raise ValidationError(self.error_messages["required"], code="required")
            return []
        max_files = self.max_files
        if len(files) > max_files:
            raise ValidationError(
                self.error_messages["too_many_files"],
                code="too_many_files",
                params={"max": max_files, "count": len(files)},
            )
        # Validate all before uploading any: one bad file stops the lot, nothing sent.
        errors: list[ValidationError] = []
        contents: list[bytes] = []
        for file in files:
            try:
                contents.append(self.check_file(file))
            except ValidationError as exc:
                errors.extend(exc.error_list)
        if errors:
            raise ValidationError(errors)
        if not self.upload:
            return files
        records: list[FeedbackImage] = []
        for file, content in zip(files, contents):
            try:
                record = self.upload_file(file, content)
            except ValidationError as exc:
                errors.extend(exc.error_list)
            else:
                if all(record.pk != seen.pk for seen in records):
                    records.append(record)
        if errors:
            raise ValidationError(errors)
        return records

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        if isinstance(data, (list, tuple)):
            return any(item not in self.empty_values for item in data)
        return data not in self.empty_values


class FeedbackImageFormMixin:
    """Pass ``user=`` to a form and record it as ``uploaded_by`` of its images.

    Mix in before :class:`~django.forms.Form` or :class:`~django.forms.ModelForm`::

        class ReplyForm(FeedbackImageFormMixin, forms.ModelForm): ...
        ReplyForm(request.POST, request.FILES, user=request.user)

    Where the form is built for you (the admin), set the class attribute
    ``upload_user`` on a per-request subclass instead (see
    :class:`django_wxpay_media.demo.admin.ComplaintReplyAdmin`).
    """

    #: Default uploader when ``user=`` is not given.
    upload_user: AbstractBaseUser | None = None

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, user: AbstractBaseUser | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        uploader = user if user is not None else self.upload_user
        if uploader is not None and not getattr(uploader, "is_authenticated", True):
            uploader = None  # AnonymousUser cannot be stored in a foreign key
        for field in self.fields.values():  # the form's own copies: safe per request
            if isinstance(field, FeedbackImageField):
                field.user = uploader
