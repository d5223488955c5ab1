"""``manage.py wxpay_upload PATH [PATH ...]``: upload image files to WeChat Pay.

Prints ``PATH<TAB>MEDIA_ID`` on stdout for each uploaded file (in the order given)
and one line per failure on stderr (the path, the reason, WeChat Pay's or our code,
and the Request-ID when there is one). Goes on after a failure; exits with 0 only
when every file was uploaded. ``--retry-failed`` also finishes the pending and
failed records, printed by their file name.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_wxpay_media import services, texts
from django_wxpay_media.exceptions import user_message
from django_wxpay_media.outcome import UploadOutcome, UploadState


class Command(BaseCommand):
    help = (
        "Upload image files (JPEG, PNG or BMP, at most 2 MB) to WeChat Pay as complaint feedback "
        "images and print PATH<TAB>MEDIA_ID for each."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", metavar="PATH", help="Image files to upload.")
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="Also finish the images that are pending or whose upload failed earlier.",
        )

    def handle(self, *args: Any, paths: list[str], retry_failed: bool, **options: Any) -> None:
        if not paths and not retry_failed:
            raise CommandError(str(texts.COMMAND_NO_INPUT))
        failures = 0
        total = 0
        try:
            if paths:
                outcomes = services.upload_many(paths)
                total += len(outcomes)
                failures += self._report(outcomes, by_path=True)
            if retry_failed:
                # A record deleted meanwhile is nobody's failure and nothing to print.
                outcomes = [o for o in services.upload_pending(include_failed=True) if o.state is not UploadState.GONE]
                total += len(outcomes)
                failures += self._report(outcomes, by_path=False)
        except ImproperlyConfigured as exc:
            # A settings problem is for the developer: say which, without a traceback.
            raise CommandError(str(texts.COMMAND_NOT_CONFIGURED) % {"error": exc}) from exc
        if failures:
            raise CommandError(texts.COMMAND_FAILED % {"failed": failures, "total": total})

    def _report(self, outcomes: list[UploadOutcome], *, by_path: bool) -> int:
        """Print each outcome; return how many failed."""
        failures = 0
        for outcome in outcomes:
            name = outcome.filename if by_path or outcome.record is None else outcome.record.filename
            if outcome.ok:
                self.stdout.write(f"{name}\t{outcome.media_id}")
            else:
                failures += 1
                self._print_failure(name, outcome)
        return failures

    def _print_failure(self, name: str, outcome: UploadOutcome) -> None:
        reason = user_message(outcome.error) if outcome.error is not None else outcome.message()
        details = [str(texts.COMMAND_CODE) % {"code": outcome.code or outcome.state.value.upper()}]
        if outcome.request_id:
            details.append(str(texts.COMMAND_REQUEST_ID) % {"request_id": outcome.request_id})
        self.stderr.write(f"{os.fspath(name)}: {reason} ({', '.join(details)})")
