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
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_wxpay_media import services
from django_wxpay_media.exceptions import UploadFailed, user_message


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
            raise CommandError(_("Give at least one PATH to upload, or --retry-failed."))
        failures = 0
        total = 0
        try:
            if paths:
                total += len(paths)
                failures += self._upload_paths(paths)
            if retry_failed:
                done, failed = self._retry_failed()
                total += done + failed
                failures += failed
        except ImproperlyConfigured as exc:
            # A settings problem is for the developer: say which, without a traceback.
            raise CommandError(_("WeChat Pay is not configured: %(error)s") % {"error": exc}) from exc
        if failures:
            raise CommandError(
                ngettext(
                    "%(failed)d of %(total)d upload failed.",
                    "%(failed)d of %(total)d uploads failed.",
                    total,
                )
                % {"failed": failures, "total": total}
            )

    def _upload_paths(self, paths: list[str]) -> int:
        failures = 0
        for path, outcome in zip(paths, services.upload_files(paths)):
            if outcome.ok and outcome.image is not None:
                self._print_success(path, outcome.image.media_id)
            else:
                failures += 1
                assert outcome.error is not None
                self._print_failure(path, outcome.error)
        return failures

    def _retry_failed(self) -> tuple[int, int]:
        result = services.upload_pending(include_failed=True)
        for image in result.uploaded + result.skipped:
            if image.media_id:
                self._print_success(image.filename, image.media_id)
        for image, error in result.failed:
            self._print_failure(image.filename, UploadFailed(image, error))
        return len(result.uploaded) + len(result.skipped), len(result.failed)

    def _print_success(self, name: str, media_id: str) -> None:
        self.stdout.write(f"{name}\t{media_id}")

    def _print_failure(self, name: str, error: Exception) -> None:
        if isinstance(error, OSError) and not hasattr(error, "code"):
            # A path that cannot be read: the operating system's reason says it best.
            reason = _("cannot read the file: %(reason)s") % {"reason": error.strerror or error}
            code = "FILE_UNREADABLE"
            request_id = None
        else:
            reason = user_message(error)
            code = getattr(error, "code", None) or type(error).__name__
            request_id = getattr(error, "request_id", None)
        details = [_("code %(code)s") % {"code": code}]
        if request_id:
            details.append(_("Request-ID %(request_id)s") % {"request_id": request_id})
        self.stderr.write(f"{os.fspath(name)}: {reason} ({', '.join(details)})")
