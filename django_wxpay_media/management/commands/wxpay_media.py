"""``manage.py wxpay_media doctor``: check the merchant's settings against WeChat Pay.

Makes one harmless signed call (:mod:`django_wxpay_media.doctor`) and prints, in
the site's language, whether the merchant number, the certificate serial, the
private key and the WeChat Pay key agree; uploads nothing. Exits with 0 only when
all agree.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from django_wxpay_media.doctor import diagnose


class Command(BaseCommand):
    help = "Developer tools of django-wxpay-media: 'doctor' checks the settings against WeChat Pay."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{doctor}")
        doctor = sub.add_parser(
            "doctor",
            help="Make one harmless signed call and say whether MCHID, the serial, the private key and the "
            "WeChat Pay key agree (nothing is uploaded).",
        )
        doctor.add_argument("--account", metavar="NAME", help="The merchant account (default: the default one).")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        diagnosis = diagnose(options.get("account"))
        for line in diagnosis.lines:
            self.stdout.write(line)
        if not diagnosis.ok:
            raise CommandError(_("The settings and WeChat Pay do not agree yet; see above."))
