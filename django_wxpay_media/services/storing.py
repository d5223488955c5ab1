"""Storing: the record of an image's bytes and its stored file, found or created once."""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import Any, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, router, transaction
from django.utils import timezone

from .. import conf
from ..exceptions import (
    FileUnreadableError,
    StorageError,
    StoredFileChangedError,
    StoredFileError,
    StoredFileMissingError,
)
from ..models import FeedbackImage
from ..outcome import UploadOutcome, UploadState
from ..wechatpay import PreparedImage, errors, prepare_file, prepare_image
from .inputs import FileInput, _seekable, _SourcePath, prepare

logger = logging.getLogger("django_wxpay_media")

Status = FeedbackImage.Status


def _store(
    file: FileInput | PreparedImage, filename: str | None, user: Any, *, claim: bool, account: str | None = None
) -> UploadOutcome | tuple[FeedbackImage, PreparedImage, str | None]:
    """Validate and store for merchant account ``account`` (default: the default one): the
    record, content and claim token, or a ``REJECTED`` outcome.

    With ``claim``, a new record is inserted already claimed by this caller (its
    token is returned); an existing record comes back with no token.
    """
    try:
        prepared = prepare(file, filename)
    except errors.ImageValidationError as exc:
        return UploadOutcome(UploadState.REJECTED, None, exc, source=file)
    except OSError as exc:
        unreadable = FileUnreadableError(f"Cannot read {file!r}: {exc}", reason=exc.strerror or str(exc))
        unreadable.__cause__ = exc
        return UploadOutcome(UploadState.REJECTED, None, unreadable, source=file)
    conf.get_client(account)  # bad settings (or an unknown account) raise here, before anything is stored
    settings = conf.get_account(account)
    try:
        image, created, prepared = _find_or_create(prepared, settings.mchid, user, claim=claim, account=settings.name)
        token = image.claim_token if created and claim else None
        if not created and image.status != Status.UPLOADED:
            prepared = _restore_file(image, prepared)
    except OSError as exc:
        logger.error("Cannot store %r for upload to WeChat Pay: %s", prepared.filename, exc, exc_info=exc)
        failure = StorageError(f"Cannot store {prepared.filename!r}: {exc}")
        failure.__cause__ = exc
        return UploadOutcome(UploadState.REJECTED, None, failure, source=file)
    return image, prepared, token


_User = TypeVar("_User", bound=AbstractBaseUser)


def recorded_user(user: _User | AnonymousUser | None) -> _User | None:
    """The user to record as having done something: a saved, authenticated user, else ``None``.

    Code acting for no one passes ``None``; an anonymous user is no one either.
    """
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated or user.pk is None:
        return None
    return user


def _find_or_create(
    prepared: PreparedImage, mchid: str, user: Any, *, claim: bool, account: str = conf.DEFAULT_ACCOUNT
) -> tuple[FeedbackImage, bool, PreparedImage]:
    """The record for these bytes, whether this call created it (file stored first),
    and the content to send (read from the stored file when it came from a file).

    With ``claim`` a new record is inserted already claimed by this call
    (uploading, attempt 1, a new ``claim_token``): no second query to claim it.
    """
    existing = FeedbackImage.objects.filter(mchid=mchid, sha256=prepared.sha256).first()
    if existing is not None:
        return existing, False, prepared
    image = FeedbackImage(
        filename=prepared.filename,
        sha256=prepared.sha256,
        size=prepared.size,
        content_type=prepared.content_type,
        account=account,
        mchid=mchid,
        uploaded_by=recorded_user(user),
    )
    if claim:
        image.status = Status.UPLOADING
        image.attempts = 1
        image.upload_started_at = timezone.now()
        image.claim_token = _new_token()
    # Store the file before the row exists, so that no record points at nothing. The
    # stored name is random (see feedback_image_upload_to), not the name sent.
    stored = _save_file(image, prepared)
    try:
        with _savepoint():
            image.save(force_insert=True)
    except IntegrityError:
        # Most likely another caller inserted the same bytes first: use theirs.
        _delete_stored(image.file.name)
        winner = FeedbackImage.objects.filter(mchid=mchid, sha256=prepared.sha256).first()
        if winner is None:
            raise  # some other constraint; not a race we can settle
        logger.debug("Reusing FeedbackImage %s for sha256 %s (created concurrently).", winner.pk, prepared.sha256)
        return winner, False, prepared
    except BaseException:
        _delete_stored(image.file.name)
        raise
    return image, True, stored


def _save_file(image: FeedbackImage, prepared: PreparedImage) -> PreparedImage:
    """Store ``prepared`` as ``image.file``; the content to send from now on.

    Bytes are stored as they are. A file is stored from the file, a chunk at a time
    (``storage.save`` of a ``File`` reads its ``chunks()``), and from then on read
    from the stored copy; ``OSError`` if the file changed since it was validated.
    """
    if prepared.opener is None:
        image.file.save(prepared.filename, ContentFile(prepared.data), save=False)
        return prepared
    with prepared.opener() as fh:
        image.file.save(prepared.filename, File(fh, name=prepared.filename), save=False)
        changed = isinstance(prepared.opener, _SourcePath) and not prepared.opener.unchanged(fh)
    if changed:  # written to while it was stored
        _delete_stored(image.file.name)
        raise OSError(f"{prepared.filename!r} changed while it was stored; nothing was kept.")
    storage, name = image.file.storage, str(image.file.name)
    return prepared.reading_from(lambda: storage.open(name, "rb"))


def _savepoint() -> contextlib.AbstractContextManager[Any]:
    """A savepoint inside the caller's transaction, nothing in autocommit.

    Inside a transaction a failed statement (a lost race, a bad value) must not
    break the caller's transaction; in autocommit each statement stands alone
    already, and the unique constraint settles races without a transaction.
    """
    using = router.db_for_write(FeedbackImage)
    if transaction.get_connection(using).in_atomic_block:
        return transaction.atomic(using=using)
    return contextlib.nullcontext()


def _new_token() -> str:
    return secrets.token_hex(16)


def _restore_file(image: FeedbackImage, prepared: PreparedImage) -> PreparedImage:
    """Store the bytes again if the record's file went missing: the caller has them.

    Returns the content to send (read from the new stored file when it came from a file).
    """
    storage = conf.get_storage()
    if image.file.name and storage.exists(image.file.name):
        return prepared
    prepared = _save_file(image, prepared)
    FeedbackImage.objects.filter(pk=image.pk).update(file=image.file.name)
    logger.info("Stored FeedbackImage %s again as %s (its file was missing).", image.pk, image.file.name)
    return prepared


def _delete_stored(name: str | None) -> None:
    if not name:
        return
    try:
        conf.get_storage().delete(name)
    except Exception:  # an orphan file is harmless; a crash here would hide the real error
        logger.warning("Could not delete the unused stored file %r.", name, exc_info=True)


def _load_stored(image: FeedbackImage) -> PreparedImage:
    """The stored file, validated again and checked against the record's digest."""
    name = image.file.name
    storage = conf.get_storage()
    if not name or not storage.exists(name):
        raise StoredFileMissingError(f"The stored file {name!r} of FeedbackImage {image.pk} is missing.")
    try:
        with storage.open(name, "rb") as fh:
            if _seekable(fh):
                # Checked a chunk at a time; sent from the file (opened again for each attempt).
                prepared = prepare_file(fh, image.filename, opener=lambda: storage.open(name, "rb"))
            else:
                prepared = prepare_image(fh.read(), image.filename)
    except FileNotFoundError:
        raise StoredFileMissingError(f"The stored file {name!r} of FeedbackImage {image.pk} is missing.") from None
    except OSError as exc:
        raise StoredFileError(f"The stored file {name!r} of FeedbackImage {image.pk} cannot be read: {exc}.") from exc
    if prepared.sha256 != image.sha256:
        raise StoredFileChangedError(
            f"The stored file {name!r} of FeedbackImage {image.pk} no longer matches its sha256 {image.sha256}."
        )
    return prepared
