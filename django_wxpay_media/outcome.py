"""What happened to an upload, as a value.

Every service entry point (:func:`~django_wxpay_media.services.upload`,
:func:`~django_wxpay_media.services.retry`, the batches) returns
:class:`UploadOutcome` values; screens and the command display them
(:func:`django_wxpay_media.texts.outcome_message`, :func:`count_states`) instead of catching their
own lists of exceptions or guessing from timestamps. :class:`UploadState` lives in
:mod:`.states` (the sentences in :mod:`.texts` are keyed by it) and is importable here.
"""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .states import UploadState

if TYPE_CHECKING:
    from .models import FeedbackImage

__all__ = ["UploadOutcome", "UploadState", "count_states"]


@dataclass(frozen=True)
class UploadOutcome:
    """The result of one upload: the record, what happened, and why if it failed.

    ``record`` is the :class:`~django_wxpay_media.models.FeedbackImage` (``None``
    when rejected: nothing stored); ``error`` the cause of a failure (a
    :class:`~django_wxpay_media.wechatpay.errors.WeChatPayError` or a
    :class:`~django_wxpay_media.exceptions.WxpayMediaError`); ``source`` the input
    given (path, file, record), so that a batch's outcomes can be matched to it.
    """

    state: UploadState
    record: FeedbackImage | None
    error: BaseException | None = None
    source: Any = None

    @property
    def ok(self) -> bool:
        """True when the image has its media_id: sent now or reused."""
        return self.state in (UploadState.SENT, UploadState.REUSED)

    @property
    def sent(self) -> bool:
        """True when this call sent the image to WeChat Pay (and it was accepted)."""
        return self.state is UploadState.SENT

    @property
    def code(self) -> str:
        """The error's code (WeChat Pay's, e.g. ``PARAM_ERROR``, or ours), or ``""``."""
        if self.error is None:
            return ""
        return str(getattr(self.error, "code", "") or type(self.error).__name__)

    @property
    def request_id(self) -> str:
        """WeChat Pay's Request-ID of the failed answer, or ``""``."""
        if self.error is None:
            return ""
        return str(getattr(self.error, "request_id", None) or "")

    @property
    def media_id(self) -> str:
        """The record's media_id when ok, else ``""``."""
        return self.record.media_id if self.ok and self.record is not None else ""

    @property
    def filename(self) -> str:
        """A name to show: the name given (path or file name), else the record's."""
        source = self.source
        if isinstance(source, (str, os.PathLike)):
            return os.fspath(source)
        name = getattr(source, "name", None)
        if isinstance(name, str) and name:
            return posixpath.basename(name.replace("\\", "/")) or name
        return self.record.filename if self.record is not None else ""


def count_states(outcomes: Iterable[UploadOutcome]) -> Counter[UploadState]:
    """How many outcomes are in each state (a ``Counter``; missing states count 0)."""
    return Counter(outcome.state for outcome in outcomes)
