"""Signals of the complaint desk, one per alert event, so a site can route them (WeCom, SMS).

Each is sent once per event, when the desk claims the alert (before any e-mail),
with ``sender=Complaint`` and the keyword arguments ``complaint`` and ``alert``
(the :class:`~.desk_models.Alert` record; its ``occasion`` tells which deadline or
which reply). Receivers run with ``send_robust``: one that raises is logged and
does not stop the e-mail or the others.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A complaint arrived (first stored, not processed).
complaint_arrived = Signal()
#: The consumer wrote again after the merchant's last reply.
consumer_wrote_again = Signal()
#: The running deadline (reply or completion) is within ``COMPLAINT_DUE_SOON_HOURS``.
deadline_close = Signal()
#: The running deadline has passed.
deadline_missed = Signal()
