"""``manage.py wxpay_upload PATH [PATH ...]``: upload image files to WeChat Pay.

Prints ``PATH<TAB>MEDIA_ID`` on stdout for each uploaded file (in the order given)
and one line per failure on stderr (the path, the reason, WeChat Pay's or our code,
and the Request-ID when there is one). Goes on after a failure; exits with 0 only
when every file was uploaded. ``--retry-failed`` also finishes the pending and
failed records, printed by their file name.

Output stays machine-readable whatever the path (see :func:`escape`): a TAB, a
line break, a backslash, a control character or a byte that is not UTF-8 is
written as an escape, so each result is one line and splits on its one TAB. A
line that cannot be written (a closed pipe, a stream that cannot encode it) is
reported on stderr and counted as a failure; it never stops the batch.

Each failure is printed once: when the site has not configured logging for
``django_wxpay_media``, the package's log records are not also written to stderr
by Python's last-resort handler while the command runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import unicodedata
from collections.abc import Iterator
from typing import IO, Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_wxpay_media import services, texts
from django_wxpay_media.outcome import UploadOutcome, UploadState

#: Escapes of the characters that would break a ``PATH<TAB>MEDIA_ID`` line.
_NAMED_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape(name: str | os.PathLike[str], *, ascii_only: bool = False) -> str:
    """``name`` as one field of a result line: no TAB, no line break, every byte kept.

    ``\\``, TAB, LF and CR become ``\\\\``, ``\\t``, ``\\n``, ``\\r``; a byte of the path
    that is not UTF-8 (Python reads it as a surrogate escape) becomes ``\\xNN``; any
    other control, format or separator character (category C* or Zl/Zp: U+0085,
    U+2028, a bidi override...) becomes ``\\uNNNN`` (``\\UNNNNNNNN`` beyond U+FFFF).
    Read back: ``\\xNN`` is the byte NN, ``\\uNNNN`` the UTF-8 bytes of that
    character. ``ascii_only`` also escapes every other non-ASCII character as
    ``\\uNNNN``, for a stream that cannot encode it.
    """
    text = os.fspath(name)
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif (code > 0x7F and ascii_only) or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


@contextlib.contextmanager
def _failures_printed_once() -> Iterator[None]:
    """Without logging configured for the package, keep its records off stderr while the command runs.

    Python writes records of a logger without handlers to stderr (``logging.lastResort``);
    the command prints each failure itself, so the log line would repeat it. A site
    that configured handlers keeps its log.
    """
    logger = logging.getLogger("django_wxpay_media")
    if logger.hasHandlers():
        yield
        return
    quiet = logging.NullHandler()
    logger.addHandler(quiet)
    try:
        yield
    finally:
        logger.removeHandler(quiet)


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
        parser.add_argument(
            "--account",
            metavar="NAME",
            help="The merchant account to upload for (a name in WXPAY_MEDIA['ACCOUNTS']; default: the default one).",
        )

    def handle(
        self, *args: Any, paths: list[str], retry_failed: bool, account: str | None = None, **options: Any
    ) -> None:
        if not paths and not retry_failed:
            raise CommandError(str(texts.COMMAND_NO_INPUT))
        self.account = account
        with _failures_printed_once():
            self._upload(paths, retry_failed)

    def _upload(self, paths: list[str], retry_failed: bool) -> None:
        failures = 0
        total = 0
        self._unwritten = 0
        try:
            if paths:
                outcomes = services.upload_many(paths, account=self.account)
                total += len(outcomes)
                failures += self._report(outcomes, by_path=True)
            if retry_failed:
                # A record deleted meanwhile is nobody's failure and nothing to print.
                pending = services.upload_pending(include_failed=True, account=self.account)
                outcomes = [o for o in pending if o.state is not UploadState.GONE]
                total += len(outcomes)
                failures += self._report(outcomes, by_path=False)
        except ImproperlyConfigured as exc:
            # A settings problem is for the developer: say which, without a traceback.
            raise CommandError(str(texts.COMMAND_NOT_CONFIGURED) % {"error": exc}) from exc
        failures += self._unwritten
        if failures:
            raise CommandError(texts.COMMAND_FAILED % {"failed": min(failures, total), "total": total})

    def _report(self, outcomes: list[UploadOutcome], *, by_path: bool) -> int:
        """Print each outcome; return how many failed."""
        failures = 0
        for outcome in outcomes:
            name = outcome.filename if by_path or outcome.record is None else outcome.record.filename
            if outcome.ok:
                # Bound as a default: the line is built now, for this outcome.
                self._emit(self.stdout, name, lambda field, media_id=outcome.media_id: f"{field}\t{media_id}")
            else:
                failures += 1
                self._print_failure(name, outcome)
        return failures

    def _print_failure(self, name: str, outcome: UploadOutcome) -> None:
        reason = texts.error_message(outcome.error) if outcome.error is not None else texts.outcome_message(outcome)
        details = [str(texts.COMMAND_CODE) % {"code": outcome.code or outcome.state.value.upper()}]
        if outcome.request_id:
            details.append(str(texts.COMMAND_REQUEST_ID) % {"request_id": outcome.request_id})
        self._emit(self.stderr, name, lambda field: f"{field}: {reason} ({', '.join(details)})")

    def _emit(self, stream: IO[str] | Any, name: str | os.PathLike[str], line: Any) -> None:
        """Write ``line(escaped name)``; a stream that cannot take it never stops the batch."""
        try:
            try:
                stream.write(line(escape(name)))
            except UnicodeEncodeError:  # e.g. PYTHONIOENCODING=ascii and a Chinese file name
                stream.write(line(escape(name, ascii_only=True)).encode("ascii", "backslashreplace").decode("ascii"))
        except (OSError, ValueError) as exc:  # a closed pipe or file; UnicodeError is a ValueError
            self._unwritten += 1
            with contextlib.suppress(OSError, ValueError):  # stderr is gone too: the exit status still says it
                self.stderr.write(
                    str(texts.COMMAND_UNWRITTEN) % {"path": escape(name, ascii_only=True), "error": type(exc).__name__}
                )
