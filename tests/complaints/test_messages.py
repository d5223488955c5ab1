"""The desk's sentences have one home, complaints/messages.py: the services and the admin build none inline."""

from __future__ import annotations

import ast
from pathlib import Path

from django.utils import translation

import django_wxpay_media
from django_wxpay_media.complaints import messages

DESK = Path(django_wxpay_media.__file__).parent / "complaints"
GETTEXT = {"gettext", "ngettext", "pgettext", "gettext_lazy", "ngettext_lazy", "_"}


def _calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    return getattr(call.func, "id", getattr(call.func, "attr", ""))


def test_the_services_build_no_sentence_of_their_own():
    inline = [
        f"{path.name}:{call.lineno}"
        for path in sorted((DESK / "services").glob("*.py"))
        for call in _calls(path)
        if _name(call) in GETTEXT
    ]
    assert inline == []


def test_the_admin_reports_only_sentences_from_the_table():
    """What the admin tells staff after an action (messages.*, message_user) is never a literal sentence."""
    found = []
    for path in sorted((DESK / "admin").glob("*.py")):
        for call in _calls(path):
            if _name(call) in {"success", "error", "warning", "info", "message_user"}:
                found += [
                    f"admin/{path.name}:{call.lineno}"
                    for arg in call.args
                    if isinstance(arg, ast.Call) and _name(arg) in GETTEXT
                ]
    assert found == []


def test_every_code_the_desk_asks_for_is_in_the_table_and_translated():
    codes = {
        call.args[0].value
        for path in DESK.rglob("*.py")
        if "migrations" not in path.parts
        for call in _calls(path)
        if _name(call) == "message_for" and call.args and isinstance(call.args[0], ast.Constant)
    }
    assert {"REFRESHED", "REPLY_SENT", "NOT_AVAILABLE", "WITH_REQUEST_ID"} <= codes
    assert codes <= set(messages.MESSAGES)
    english = {code: str(messages.MESSAGES[code]) for code in codes}
    with translation.override("zh-hans"):
        untranslated = [code for code in codes if str(messages.MESSAGES[code]) == english[code]]
    assert untranslated == []
