"""The complaint desk's only writer: the database and WeChat Pay meet here.

Rules:

* WeChat Pay's detail is the truth; rows are copies refreshed from it.
* No transaction or lock is held during a network call: each write is a short
  statement (or a small ``atomic()`` block) before or after the call, never around it.
* Results are values (:class:`Outcome`, :class:`SyncResult`; notifications:
  :mod:`.notifications`) carrying a translated sentence for staff; the admin
  and the command display them and never catch exceptions of their own.
* A reply's images are uploaded first; if any fails, the reply is not sent: it is
  kept as failed and says which image.

By job: :mod:`.results` (the values returned), :mod:`.storing` (WeChat's copies,
no network), :mod:`.reading` (refresh, sync, images, the payer's phone),
:mod:`.actions` (reply, complete, refund decisions, the instant-service reply), :mod:`.notify_url`.
"""

from .actions import complete, decide_refund, instant_idempotent_id, resend_reply, respond_immediately, send_reply
from .notify_url import notification_url
from .reading import download_image, payer_phone, refresh, sync
from .results import Outcome, SyncResult
from .storing import MAX_CONSUMER_IMAGES, check_lengths, store, store_history

__all__ = [
    "MAX_CONSUMER_IMAGES",
    "Outcome",
    "SyncResult",
    "check_lengths",
    "complete",
    "decide_refund",
    "download_image",
    "instant_idempotent_id",
    "notification_url",
    "payer_phone",
    "refresh",
    "resend_reply",
    "respond_immediately",
    "send_reply",
    "store",
    "store_history",
    "sync",
]
