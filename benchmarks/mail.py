"""The benchmark's e-mail backend: each message is rendered to bytes, as SMTP would send it, then dropped.

Django's locmem backend keeps every message in ``django.core.mail.outbox`` for tests to read:
in a benchmark that is a list growing with every alert sent (a sync of 2,000 new complaints
with one staff recipient kept 2,000 messages, about 1.5 KiB each, and the memory row counted
them as held by the sync).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend


class RenderingBackend(BaseEmailBackend):
    """Render each message (headers, encodings, body) and keep none."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            message.message().as_bytes()
        return len(email_messages)
