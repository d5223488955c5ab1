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
    """What one desk action did; ``message`` is for staff, translated."""

    ok: bool
    message: str
    code: str = ""
    request_id: str = ""
    complaint: Complaint | None = None
    reply: Reply | None = None


@dataclass
class SyncResult:
    """What :func:`sync` did: complaints stored, and those (or the list) that failed."""

    synced: list[Complaint] = field(default_factory=list)
    failed: list[tuple[str, Outcome]] = field(default_factory=list)
    #: Set when the list itself could not be read (the sync is incomplete).
    error: Outcome | None = None

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
