"""The image fields: each file validated like WeChat Pay, stored while the form cleans, uploaded when safe."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.template.defaultfilters import filesizeformat

from .. import texts
from ..outcome import UploadOutcome, UploadState
from ..wechatpay import MAX_IMAGE_SIZE, PreparedImage
from ..wechatpay import errors as wxerrors
from .widgets import FeedbackImageInput, MultipleFeedbackImageInput

if TYPE_CHECKING:  # pragma: no cover
    from django.contrib.auth.models import AbstractBaseUser

    from ..models import FeedbackImage

logger = logging.getLogger("django_wxpay_media")

#: What a field calls with the outcomes of its uploads once they have finished.
UploadsCallback = Callable[[list[UploadOutcome]], None]


class FeedbackImageField(forms.FileField):
    """One image, validated and stored when the form is cleaned, uploaded when safe.

    ``cleaned_data[name]`` is the :class:`~django_wxpay_media.models.FeedbackImage`
    (a new one, or the existing record of the same bytes): uploaded already, or
    pending until the surrounding transaction commits (see the module's text); or
    ``None`` when the field is not required and no file was chosen (the initial
    value, if any, when the form is bound with one). :attr:`outcomes` says what
    happened to each file.

    Arguments, besides those of :class:`django.forms.FileField`:

    ``upload``
        ``True`` (default) to store and upload. ``False`` only validates: the
        cleaned value is then the uploaded file itself, for code that calls
        :func:`~django_wxpay_media.services.upload` later.
    ``user``
        Recorded as ``uploaded_by``. Forms usually set it per request through
        :class:`FeedbackImageFormMixin` (``MyForm(..., user=request.user)``).

    Errors (``ValidationError.code``; ``params`` in brackets): ``required``,
    ``invalid``, ``empty`` (filename), ``file_too_large`` (filename, size,
    max_size, both human-readable), ``unsupported_format`` (filename),
    ``invalid_image`` (filename, reason: any other validation failure),
    ``upload_failed`` (filename, reason: the translated cause from
    :func:`django_wxpay_media.texts.error_message`, error_code: WeChat Pay's
    code; only when the upload ran right away), ``upload_error`` (filename,
    reason, error_code: a failure that left no record), ``not_configured``,
    ``storage_error`` (filename). Override any message with ``error_messages=``.
    The default sentences live in :data:`django_wxpay_media.texts.FIELD_ERRORS`.
    """

    widget = FeedbackImageInput
    default_error_messages = {
        key: texts.FIELD_ERRORS[key]
        for key in (
            "empty",
            "file_too_large",
            "unsupported_format",
            "invalid_image",
            "upload_failed",
            "upload_error",
            "storage_error",
            "not_configured",
        )
    }

    def __init__(
        self, *, upload: bool = True, user: AbstractBaseUser | None = None, account: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.upload = upload
        self.user = user
        #: The merchant account the images are uploaded for (``None``: the default one).
        self.account = account
        self._reset()

    def _reset(self) -> None:
        # Called per clean(): the form's deep copy of a field shares lists with the class's field.
        #: What happened to each file of the latest clean() (QUEUED until uploaded).
        self.outcomes: list[UploadOutcome] = []
        #: True once the uploads of the latest clean() have finished (or none was needed).
        self.uploads_done = True
        self._callbacks: list[UploadsCallback] = []
        # Each file of this clean() and the image check_file() made of it, for storing.
        self._prepared: list[tuple[Any, PreparedImage]] = []

    # -- one file ---------------------------------------------------------------------

    def to_python(self, data: Any) -> Any:
        # FileField says "the submitted file is empty" without the name; ours names it.
        if data not in self.empty_values and getattr(data, "name", None) and getattr(data, "size", None) == 0:
            raise ValidationError(self.error_messages["empty"], code="empty", params={"filename": data.name})
        return super().to_python(data)

    def check_file(self, file: Any) -> PreparedImage:
        """Validate one uploaded file like WeChat Pay would; return the prepared image.

        Runs after :class:`~django.forms.FileField`'s own checks (name, size,
        validators). Raises :class:`~django.core.exceptions.ValidationError`;
        nothing is stored or sent. The image is kept for storing, which then does
        not read or validate the file again.
        """
        from .. import services  # not at import time: services imports the models

        filename = file.name
        if file.size > MAX_IMAGE_SIZE:  # before reading a possibly huge upload into memory
            raise self._too_large(filename, file.size)
        try:
            prepared = services.prepare(file, filename)
        except wxerrors.ImageValidationError as exc:
            raise self.validation_error(exc, filename) from exc
        self._prepared.append((file, prepared))
        return prepared

    def clean_file(self, data: Any, initial: Any = None) -> Any:
        """:meth:`FileField.clean <django.forms.FileField.clean>` plus WeChat Pay's checks.

        Returns the uploaded file (validated), or what ``FileField`` returns for no
        new file (``initial``, ``None``).
        """
        file = super().clean(data, initial)
        if file is False:  # "clear" ticked: no image
            return None
        if file is None or file is initial or not hasattr(file, "read"):
            return file
        self.check_file(file)
        return file

    def upload_error(self, exc: BaseException, filename: str) -> ValidationError:
        """The field error for an exception: settings (``not_configured``) or a validation error."""
        if isinstance(exc, wxerrors.ImageValidationError):
            return self.validation_error(exc, filename)
        if isinstance(exc, (wxerrors.ConfigurationError, ImproperlyConfigured)):
            # A developer's mistake in settings.WXPAY_MEDIA: staff get a polite message,
            # the log keeps the details (`manage.py check` reports them too).
            logger.error("Cannot upload %r to WeChat Pay: %s", filename, exc)
            return ValidationError(self.error_messages["not_configured"], code="not_configured")
        return ValidationError(
            self.error_messages["upload_error"],
            code="upload_error",
            params={"filename": filename, "reason": texts.error_message(exc), "error_code": getattr(exc, "code", "")},
        )

    def outcome_error(self, outcome: UploadOutcome, filename: str) -> ValidationError:
        """The field error for an outcome that is not ok (``upload_failed``, ``storage_error``...)."""
        error = outcome.error
        if isinstance(error, wxerrors.ImageValidationError):
            return self.validation_error(error, filename)
        if outcome.code == "STORAGE_ERROR":
            return ValidationError(
                self.error_messages["storage_error"], code="storage_error", params={"filename": filename}
            )
        reason = texts.error_message(error) if error is not None else texts.outcome_message(outcome)
        params = {"filename": filename, "reason": reason, "error_code": outcome.code}
        if outcome.record is not None:  # kept: submitting it again retries
            return ValidationError(self.error_messages["upload_failed"], code="upload_failed", params=params)
        return ValidationError(self.error_messages["upload_error"], code="upload_error", params=params)

    def validation_error(self, exc: wxerrors.ImageValidationError, filename: str) -> ValidationError:
        """The field error for an :class:`~django_wxpay_media.wechatpay.errors.ImageValidationError`."""
        key = texts.FIELD_CODES.get(exc.code)
        if key == "file_too_large":
            return self._too_large(filename, exc.params.get("size", 0))
        if key is not None and key != "invalid_image":  # a sentence of its own, naming the file
            return ValidationError(self.error_messages[key], code=key, params={"filename": filename})
        return ValidationError(
            self.error_messages["invalid_image"],
            code="invalid_image",
            params={"filename": filename, "reason": texts.error_message(exc)},
        )

    def _too_large(self, filename: str, size: int) -> ValidationError:
        return ValidationError(
            self.error_messages["file_too_large"],
            code="file_too_large",
            params={"filename": filename, "size": filesizeformat(size), "max_size": filesizeformat(MAX_IMAGE_SIZE)},
        )

    # -- storing and uploading ----------------------------------------------------------

    def store_and_upload(self, files: list[Any]) -> list[FeedbackImage]:
        """Store validated ``files``, have them uploaded, return their records (no duplicates).

        Raises :class:`~django.core.exceptions.ValidationError` for files that could
        not be stored and, when the uploads ran right away, for failed uploads.
        """
        from .. import services  # not at import time: services imports the models

        stored: list[UploadOutcome] = []
        errors: list[ValidationError] = []
        for file in files:
            try:
                outcome = services.store(
                    self._prepared_for(file), filename=file.name, user=self.user, account=self.account
                )
            except ImproperlyConfigured as exc:
                raise self.upload_error(exc, file.name) from exc
            if outcome.record is None:
                errors.extend(self.outcome_error(outcome, file.name).error_list)
            else:
                stored.append(outcome)
        if errors:
            # Nothing is uploaded when a file is refused: the staff member fixes the choice first.
            raise ValidationError(errors)
        self.uploads_done = False
        self.outcomes = services.upload_stored(stored, on_done=self._finished)
        if self.uploads_done:  # ran right away: failures are field errors, as a bad file is
            for outcome in self.outcomes:
                if not outcome.ok and outcome.state is not UploadState.QUEUED:  # queued: on a task worker
                    errors.extend(self.outcome_error(outcome, outcome.filename).error_list)
            if errors:
                raise ValidationError(errors)
        records: list[FeedbackImage] = []
        for outcome in self.outcomes:
            record = outcome.record
            if record is not None and all(record.pk != seen.pk for seen in records):
                records.append(record)
        return records

    def _prepared_for(self, file: Any) -> Any:
        """What :meth:`check_file` made of ``file``; the file itself if it was not checked here."""
        return next((prepared for checked, prepared in self._prepared if checked is file), file)

    def prepared(self, files: list[Any]) -> list[Any]:
        """With ``upload=False``: what to pass on to the upload service for the cleaned ``files``.

        Each file this field checked becomes the prepared image :meth:`check_file`
        made of it, so that the service neither reads nor validates it again.
        """
        return [self._prepared_for(file) for file in files]

    def _finished(self, outcomes: list[UploadOutcome]) -> None:
        self.outcomes = outcomes
        self.uploads_done = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(outcomes)

    def when_done(self, callback: UploadsCallback) -> None:
        """Call ``callback(outcomes)`` once this field's uploads have finished (now, if they have)."""
        if self.uploads_done:
            callback(list(self.outcomes))
        else:
            self._callbacks.append(callback)

    # -- Field API ----------------------------------------------------------------------

    def clean(self, data: Any, initial: Any = None) -> Any:
        self._reset()
        if self.disabled:
            return initial
        file = self.clean_file(data, initial)
        if not self.upload or file is None or file is initial or not hasattr(file, "read"):
            return file
        [record] = self.store_and_upload([file])
        return record

    def bound_data(self, data: Any, initial: Any) -> Any:
        return initial

    def has_changed(self, initial: Any, data: Any) -> bool:
        return not self.disabled and data not in self.empty_values


class FeedbackImagesField(FeedbackImageField):
    """Several images at once (one ``<input type="file" multiple>``).

    ``cleaned_data[name]`` is a list of :class:`~django_wxpay_media.models.FeedbackImage`
    records in the order the files came (the same bytes twice give one record),
    or ``[]`` when the field is not required and nothing was chosen. The uploads
    run ``WXPAY_MEDIA["CONCURRENCY"]`` at a time.

    ``max_files``
        The most files one submission may carry; by default
        ``WXPAY_MEDIA["MAX_FILES"]`` (4: the most media_ids a complaint reply takes),
        read when the form is cleaned.

    Every file is validated before any is stored, so one bad file means nothing
    is stored or sent; if some uploads then fail, the others are kept (uploaded)
    and each failure is reported. Extra error code: ``too_many_files`` (max, count).
    """

    widget = MultipleFeedbackImageInput
    default_error_messages = {"too_many_files": texts.FIELD_ERRORS["too_many_files"]}

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
        from .. import conf

        return int(conf.get_setting("MAX_FILES"))

    @max_files.setter
    def max_files(self, value: int | None) -> None:
        self._max_files = value

    def clean(self, data: Any, initial: Any = None) -> Any:
        self._reset()
        if self.disabled:
            return list(initial or [])
        if data is forms.widgets.FILE_INPUT_CONTRADICTION or data is False:
            data = None
        items = list(data) if isinstance(data, (list, tuple)) else [data]
        files = [item for item in items if item not in self.empty_values]
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
        # Django's multiple-file pattern: the single-file clean per file. All are
        # validated before any is stored: one bad file stops the lot, nothing sent.
        errors: list[ValidationError] = []
        cleaned: list[Any] = []
        for file in files:
            try:
                cleaned.append(self.clean_file(file))
            except ValidationError as exc:
                errors.extend(exc.error_list)
        if errors:
            raise ValidationError(errors)
        if not self.upload:
            return cleaned
        return self.store_and_upload(cleaned)

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        if isinstance(data, (list, tuple)):
            return any(item not in self.empty_values for item in data)
        return data not in self.empty_values
