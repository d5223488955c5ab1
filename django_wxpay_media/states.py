"""What one upload did, as a stable value: :class:`UploadState`.

Apart from :mod:`.outcome` so that the sentences in :mod:`.texts` can be keyed by
state while an outcome gives its own sentence (``texts.outcome_message(outcome)``).
"""

from __future__ import annotations

import enum

__all__ = ["UploadState"]


class UploadState(str, enum.Enum):  # noqa: UP042 - StrEnum would change str(state), a public name
    """What one upload did. The values are stable strings (for logs, JSON, templates)."""

    #: This call uploaded the image now; ``record.media_id`` is WeChat Pay's answer.
    SENT = "sent"
    #: The bytes were uploaded before (by anyone); the record's media_id is reused, nothing sent.
    REUSED = "reused"
    #: The upload failed; the record keeps the error and the file, a retry may finish it.
    FAILED = "failed"
    #: Invalid input or an unreadable/unstorable file: nothing stored, nothing sent.
    REJECTED = "rejected"
    #: The record was deleted meanwhile; nothing sent.
    GONE = "gone"
    #: Stored (record pending); the upload runs after the transaction commits or on a task worker.
    QUEUED = "queued"
    #: Another process is uploading this record right now.
    BUSY = "busy"

    def __str__(self) -> str:
        return self.value
