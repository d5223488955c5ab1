"""A deadline as staff read it: "3 hours, 20 minutes left" or "overdue by 2 hours"."""

from __future__ import annotations

import datetime

from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext


def countdown(deadline: datetime.datetime, now: datetime.datetime, depth: int = 2) -> str:
    """How long is left before ``deadline``, or how long it is overdue (Django's wording, ``depth`` units)."""
    if deadline > now:
        return gettext("%(time)s left") % {"time": timeuntil(deadline, now, depth=depth)}
    return gettext("overdue by %(time)s") % {"time": timesince(deadline, now, depth=depth)}
