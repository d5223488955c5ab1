"""The app as shipped: migrations match the models, and the zh_Hans catalogue is complete."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.core.management import call_command

import django_wxpay_media.complaints as app

LOCALE = Path(app.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES"


@pytest.mark.django_db
def test_migrations_are_up_to_date():
    call_command("makemigrations", "wxpay_complaints", "--check", "--dry-run", verbosity=0)


def po_entries() -> list[tuple[str, str]]:
    text = (LOCALE / "django.po").read_text("utf-8")
    entries = []
    for context, *block in re.findall(r'(?:msgctxt (".*")\n)?msgid ((?:".*"\n)+)msgstr ((?:".*"\n?)+)', text):
        msgid, msgstr = ("".join(ast.literal_eval(line) for line in part.strip().split("\n")) for part in block)
        if msgid:
            # A .mo file keys an entry with a context as "context\x04msgid".
            entries.append((f"{ast.literal_eval(context)}\x04{msgid}" if context else msgid, msgstr))
    return entries


def test_every_string_is_translated_and_compiled():
    entries = po_entries()
    assert len(entries) > 150
    catalogue = gettext.GNUTranslations((LOCALE / "django.mo").open("rb"))
    for msgid, msgstr in entries:
        assert msgstr, msgid
        assert catalogue.gettext(msgid) == msgstr, f"django.mo is older than django.po for {msgid!r}"
        # Placeholders survive translation.
        assert sorted(re.findall(r"%\(\w+\)[sd]|\{\w+\}", msgid)) == sorted(
            re.findall(r"%\(\w+\)[sd]|\{\w+\}", msgstr)
        ), msgid


def test_a_missing_apiv3_key_is_reported(desk, settings):
    from django.core import checks

    assert not [m for m in checks.run_checks() if m.id == "wxpay_complaints.W001"]
    settings.WXPAY_MEDIA = {k: v for k, v in settings.WXPAY_MEDIA.items() if k != "APIV3_KEY"}
    (message,) = [m for m in checks.run_checks() if m.id == "wxpay_complaints.W001"]
    assert "APIV3_KEY" in message.hint
