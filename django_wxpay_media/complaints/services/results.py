"""What the desk's services return: :class:`Outcome` and :class:`SyncResult`, and the failures they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from ...wechatpay import errors
from .. import rules
from ..messages import message_for, staff_message
from ..models import Complaint, Reply

#: Anything a call to WeChat Pay (or reading the settings for it) can end with.
_CALL_ERRORS = (errors.WeChatPayError, ImproperlyConfigured)


@dataclass(frozen=True)
class Outcome:
    """What one desk action did, in the shape of an upload's result.

    Like :class:`~django_wxpay_media.outcome.UploadOutcome`: ``ok``, ``code`` (a
    stable code: WeChat Pay's or the desk's, ``""`` on success), ``request_id``
    (WeChat Pay's, or ``""``) and ``record`` (the row acted on); ``message`` is the
    staff sentence, translated, from the desk's table (:mod:`..messages`).
    """

    ok: bool
    message: str
    code: str = ""
    request_id: str = ""
    complaint: Complaint | None = None
    reply: Reply | None = None

    @property
    def record(self) -> Reply | Complaint | None:
        """The row acted on: the reply when there is one, else the complaint."""
        return self.reply if self.reply is not None else self.complaint


@dataclass
class SyncResult:
    """What :func:`sync` did: complaints stored, and those (or the list) that failed."""

    #: The complaints synced (stored, or unchanged), as light rows; empty when the sync
    #: passed each to its ``on_synced`` callback instead (``count`` counts them either way).
    synced: list[Complaint] = field(default_factory=list)
    #: How many complaints were synced.
    count: int = 0
    failed: list[tuple[str, Outcome]] = field(default_factory=list)
    #: Set when the list itself could not be read (the sync is incomplete); the first such error.
    error: Outcome | None = None
    #: Complaints of sub-merchants a service provider account does not handle (``SUB_MERCHANTS``):
    #: ``(complaint_id, complainted_mchid)``, not stored.
    ignored: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed


def _failure(exc: BaseException, **extra: Any) -> Outcome:
    if isinstance(exc, DatabaseError):  # the details are in the log, not for staff
        return Outcome(False, message_for("NOT_STORED"), code="DATABASE_ERROR")
    code = getattr(exc, "code", "") if isinstance(exc, errors.WeChatPayError) else "CONFIGURATION"
    return Outcome(False, staff_message(exc, **extra), code=code, request_id=getattr(exc, "request_id", None) or "")


def _refused(verdict: rules.Verdict, complaint: Complaint) -> Outcome:
    return Outcome(False, verdict.reason, code="NOT_ALLOWED", complaint=complaint)
