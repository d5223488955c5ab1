"""One-time tokens of the desk's action forms: one rendered form sends once.

Each rendered reply, mark-complete and refund-decision form carries a fresh
token. A submission claims it with one conditional ``UPDATE … WHERE used_at IS
NULL`` (the shape of the upload's claim token) before anything is uploaded or
sent: of two submissions of one form (a double click, back and resubmit, two tabs
racing) exactly one claims it, and the other sends nothing. Tokens are kept for
:data:`TOKEN_LIFETIME`, so a resubmission within that time is recognised; older
ones are deleted when new ones are issued.
"""

from __future__ import annotations

import datetime
import enum
import secrets

from django.utils import timezone

from .models import Complaint, FormToken

#: The name of the hidden input that carries the token.
FIELD = "wxpay_form_token"
#: How long a rendered form stays usable, and a used token remembered.
TOKEN_LIFETIME = datetime.timedelta(days=1)


class Claim(enum.Enum):
    """What claiming a submitted token found."""

    CLAIMED = "claimed"  # this submission may send
    USED = "used"  # the form was submitted already: send nothing
    UNKNOWN = "unknown"  # no such token (missing, expired, forged): send nothing


def issue(complaint: Complaint, action: str) -> str:
    """A new token for one rendered form of ``action`` on ``complaint``; drops expired tokens."""
    now = timezone.now()
    FormToken.objects.filter(created_at__lt=now - TOKEN_LIFETIME).delete()
    token = secrets.token_urlsafe(24)
    FormToken.objects.create(token=token, complaint=complaint, action=action, created_at=now)
    return token


def claim(token: str | None, complaint: Complaint, action: str) -> Claim:
    """Take ``token`` for this submission: :attr:`Claim.CLAIMED` for exactly one caller."""
    if not token:
        return Claim.UNKNOWN
    now = timezone.now()
    mine = FormToken.objects.filter(token=token, complaint=complaint, action=action)
    claimed = mine.filter(used_at__isnull=True, created_at__gte=now - TOKEN_LIFETIME).update(used_at=now)
    if claimed == 1:
        return Claim.CLAIMED
    return Claim.USED if mine.filter(used_at__isnull=False).exists() else Claim.UNKNOWN
