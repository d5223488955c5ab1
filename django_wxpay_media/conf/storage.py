"""Where uploaded files are kept: the ``STORAGES`` entry ``WXPAY_MEDIA['STORAGE']`` names."""

from __future__ import annotations

from typing import Any, cast

from django.apps import apps
from django.core.files.storage import Storage, storages
from django.utils.functional import LazyObject, empty

from .reading import get_setting


def storage_alias() -> str:
    """The ``STORAGES`` alias uploaded files are kept in (``WXPAY_MEDIA['STORAGE']``)."""
    return str(get_setting("STORAGE"))


def upload_to() -> str:
    """The ``strftime`` directory template for stored files (``WXPAY_MEDIA['UPLOAD_TO']``)."""
    return str(get_setting("UPLOAD_TO"))


class ConfiguredStorage(LazyObject):
    """The storage named by ``WXPAY_MEDIA['STORAGE']``: ``storages[alias]``, resolved lazily.

    Django's own pattern (``django.core.files.storage.DefaultStorage``): every
    attribute and method of the backend, present and future, is the backend's own.
    Re-resolved when ``STORAGES`` or ``WXPAY_MEDIA`` changes (``override_settings``).
    """

    _wrapped: Any  # the backend, or ``empty`` until first use

    def _setup(self) -> None:
        self._wrapped = storages[storage_alias()]

    # FileField checks isinstance(storage, Storage) when the model class is created,
    # and LazyObject answers __class__ by resolving the backend. While models load,
    # answer with the base class instead: loading models must not read WXPAY_MEDIA
    # or build a backend, so a wrong STORAGE is reported by check E025, not by a
    # traceback at startup. Once models are loaded this is LazyObject's own answer.
    @property  # type: ignore[misc]  # object.__class__ is writable; this one, like LazyObject's, is not
    def __class__(self) -> type:
        if self._wrapped is empty and not apps.models_ready:
            return Storage
        return cast(type, LazyObject.__dict__["__class__"].fget(self))


_storage = ConfiguredStorage()


def get_storage() -> Storage:
    """Storage for ``FeedbackImage.file``; a callable so migrations do not freeze it."""
    return cast(Storage, _storage)
