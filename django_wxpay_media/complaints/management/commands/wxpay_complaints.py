"""``manage.py wxpay_complaints``: the complaint desk from scripts.

* ``sync [--days N] [--account NAME]``: store every complaint of the last N days
  (default 30) with its history, of every merchant account (or of NAME); prints
  ``COMPLAINT_ID<TAB>STATE`` per complaint stored, one line per failure on stderr,
  one line per complaint of a sub-merchant the site does not handle (ignored), then on
  stderr how many complaints were found over which dates (or that none were); exits
  with 0 only if all were synced.
* ``notify-url [URL | --delete] [--account NAME]``: show, set or remove the URL WeChat
  Pay sends complaint notifications to (of the default account, or of NAME).
* ``remind``: alert staff of every deadline now close or missed and every consumer
  who wrote again, each once (for cron); prints ``COMPLAINT_ID<TAB>EVENT`` per alert.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_wxpay_media import conf
from django_wxpay_media.complaints import alerts, services
from django_wxpay_media.wechatpay import complaints as wc


class Command(BaseCommand):
    help = "Synchronise WeChat Pay complaints, or manage the complaint notification URL."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{sync,notify-url,remind}")
        sync = sub.add_parser("sync", help="Store the complaints of the last N days with their history.")
        sync.add_argument("--days", type=int, default=30, help="How many days back, today included (default 30).")
        sync.add_argument("--account", metavar="NAME", help="Only this merchant account (default: every account).")
        notify = sub.add_parser("notify-url", help="Show, set (URL) or remove (--delete) the notification URL.")
        notify.add_argument("url", nargs="?", metavar="URL", help="The HTTPS URL to register.")
        notify.add_argument("--delete", action="store_true", help="Remove the registered URL.")
        notify.add_argument("--account", metavar="NAME", help="The merchant account (default: the default one).")
        sub.add_parser("remind", help="Alert staff of deadlines close or missed, each once (for cron).")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "sync":
            self._sync(options["days"], options.get("account"))
        elif action == "remind":
            for alert in alerts.remind():
                self.stdout.write(f"{alert.complaint.complaint_id}\t{alert.kind}")
        else:
            self._notify_url(options.get("url"), options.get("delete", False), options.get("account"))

    def _check_account(self, account: str | None) -> None:
        if account is None:
            return
        try:
            conf.get_account(account)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None

    def _sync(self, days: int, account: str | None = None) -> None:
        if days < 1:
            raise CommandError(_("--days must be at least 1."))
        windows = wc.date_windows(days)
        first, last = windows[-1][0], windows[0][1]
        self._check_account(account)
        # Each line as its complaint is synced: a sync of any size keeps counts, not every row.
        result = services.sync(
            days, account=account, on_synced=lambda c: self.stdout.write(f"{c.complaint_id}\t{c.state}")
        )
        for complaint_id, mchid in result.ignored:
            self.stderr.write(
                _("%(id)s\tignored: merchant %(mchid)s is not one of this site's SUB_MERCHANTS")
                % {"id": complaint_id, "mchid": mchid}
            )
        for complaint_id, outcome in result.failed:
            self.stderr.write(f"{complaint_id}\t{outcome.code}\t{outcome.message}")
        if result.error is not None:
            raise CommandError(_("The complaint list could not be read: %(reason)s") % {"reason": result.error.message})
        found = result.count + len(result.failed)
        dates = {"first": first.isoformat(), "last": last.isoformat()}
        if found:
            self.stderr.write(
                ngettext(
                    "Found %(count)d complaint from %(first)s to %(last)s (Beijing time).",
                    "Found %(count)d complaints from %(first)s to %(last)s (Beijing time).",
                    found,
                )
                % {"count": found, **dates}
            )
        else:
            self.stderr.write(
                _(
                    "No complaints were found from %(first)s to %(last)s (Beijing time). Use --days N to look further back."
                )
                % dates
            )
        if result.failed:
            raise CommandError(
                _("%(failed)d of %(total)d complaints could not be synced.")
                % {"failed": len(result.failed), "total": len(result.failed) + result.count}
            )

    def _notify_url(self, url: str | None, delete: bool, account: str | None = None) -> None:
        if url and delete:
            raise CommandError(_("Give a URL or --delete, not both."))
        self._check_account(account)
        outcome = services.notification_url(url, delete=delete, account=account)
        if not outcome.ok:
            raise CommandError(outcome.message)
        if delete:
            self.stdout.write(_("The notification URL was removed."))
        elif outcome.message:
            self.stdout.write(outcome.message)
        else:
            self.stdout.write(_("No notification URL is registered."))
