"""The admin's message levels: how loud each upload outcome is in ``django.contrib.messages``.

The sentences are in :mod:`django_wxpay_media.texts`; how prominently the admin (or
any view using the messages framework) shows them is decided here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages

from ..states import UploadState

if TYPE_CHECKING:
    from ..outcome import UploadOutcome

__all__ = ["message_level"]


def message_level(outcome: UploadOutcome) -> int:
    """The ``django.contrib.messages`` level that fits an outcome (success, info, warning, error)."""
    if outcome.state is UploadState.SENT:
        return messages.SUCCESS
    if outcome.state in (UploadState.REUSED, UploadState.QUEUED):
        return messages.INFO
    if outcome.state in (UploadState.BUSY, UploadState.GONE):
        return messages.WARNING
    return messages.ERROR
