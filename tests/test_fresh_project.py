"""A fresh project can migrate before it has keys (issue 10).

Absent or partly filled-in ``WXPAY_MEDIA`` is reported where it matters — ``check
--deploy``, the first upload, :func:`conf.configuration_problems` for an admin
banner — and never blocks ``migrate``, ``check`` or the site's own tests. A
setting that is present but wrong still stops every command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_wxpay_media import conf, services
from django_wxpay_media.models import FeedbackImage

from .images import png_bytes

REPO = Path(__file__).resolve().parent.parent

#: Partly filled in: what a developer has written before the keys arrive.
PARTIAL = [
    {},
    {"MCHID": "1900000001"},
    {"MCHID": "1900000001", "MERCHANT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"},
    {"MCHID": "1900000001", "PRIVATE_KEY_PATH": "/run/secrets/apiclient_key.pem"},  # mounted only in production
    {"WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0119000000012025010100000000000001"},
]


@pytest.mark.django_db(transaction=True)
def test_migrate_and_check_run_without_the_setting(settings):
    del settings.WXPAY_MEDIA
    call_command("check")
    call_command("migrate", skip_checks=False, interactive=False, verbosity=0)
    assert not conf.is_configured()
    with pytest.raises(SystemCheckError, match=r"django_wxpay_media\.E001"):
        call_command("check", "--deploy")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("options", PARTIAL, ids=["empty", "mchid", "no keys", "key file absent", "id only"])
def test_a_partly_filled_in_setting_does_not_block(settings, options):
    settings.WXPAY_MEDIA = options
    call_command("check")
    call_command("migrate", skip_checks=False, interactive=False, verbosity=0)
    problems = conf.configuration_problems()
    assert problems and all(problem.missing for problem in problems if problem.is_error)
    assert not conf.is_configured()
    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check", "--deploy")
    for problem in problems:
        assert problem.check_id in str(excinfo.value)


@pytest.mark.parametrize(
    ("options", "check_id"),
    [
        ({"MCHID": "1900000001", "TIMEOUTS": 5}, "E003"),
        ({"MCHID": 1900000001.0}, "E026"),
        ({"TIMEOUT": "10"}, "E019"),
        ({"PRIVATE_KEY": "not a key"}, "E009"),
        ("MCHID=1900000001", "E002"),
    ],
    ids=["typo", "wrong type", "bad option", "bad key text", "not a dict"],
)
def test_a_wrong_setting_still_stops_every_command(settings, options, check_id):
    settings.WXPAY_MEDIA = options
    with pytest.raises(SystemCheckError, match=rf"django_wxpay_media\.{check_id}"):
        call_command("check")


@pytest.mark.django_db
def test_the_first_upload_names_what_to_add(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.WXPAY_MEDIA = {"MCHID": "1900000001"}
    with pytest.raises(ImproperlyConfigured, match=r"Add WXPAY_MEDIA\['MERCHANT_SERIAL_NO'\] = ") as excinfo:
        services.upload_image(png_bytes(3), filename="first.png")
    assert "django_wxpay_media.E005" in str(excinfo.value)
    assert not FeedbackImage.objects.exists()  # nothing stored before the settings are complete
    assert list(tmp_path.iterdir()) == []


def test_is_configured_with_a_complete_setting(wxpay_settings, settings):
    settings.DEBUG = True  # the sandbox's loopback URL warns (W001) when DEBUG is off
    assert conf.is_configured()
    assert conf.configuration_problems() == []


def test_a_warning_is_still_configured(wxpay_settings, settings):
    settings.DEBUG = True
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "MAX_FILES": 9}
    [problem] = conf.configuration_problems()
    assert (problem.id, problem.level) == ("W002", conf.WARNING)
    assert conf.is_configured()


def run_in_project(tmp_path: Path, settings_text: str, *argv: str) -> subprocess.CompletedProcess:
    """``python ARGV`` with the test settings plus ``settings_text``, on an empty SQLite file."""
    (tmp_path / "fresh_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': {str(tmp_path / 'db.sqlite3')!r}}}}}\n"
        + textwrap.dedent(settings_text)
    )
    return subprocess.run(
        [sys.executable, *argv],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": "fresh_settings",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def _django(tmp_path: Path, wxpay_media: str | None, *args: str) -> subprocess.CompletedProcess:
    """``python -m django ARGS`` in a new project, ``WXPAY_MEDIA`` absent or as given."""
    return run_in_project(
        tmp_path, "" if wxpay_media is None else f"WXPAY_MEDIA = {wxpay_media}\n", "-m", "django", *args
    )


def test_a_new_project_migrates_then_learns_what_is_missing(tmp_path):
    done = _django(tmp_path, None, "migrate", "--no-input")
    assert done.returncode == 0, done.stderr
    assert "Applying django_wxpay_media.0001_initial... OK" in done.stdout
    done = _django(tmp_path, None, "check", "--deploy")
    assert done.returncode == 1
    assert "django_wxpay_media.E001" in done.stderr and "Traceback" not in done.stderr
    # A typo is not "not yet configured": it stops migrate too, with the check's id.
    done = _django(tmp_path, "{'MCHID': '1900000001', 'TIMEOUTS': 5}", "migrate", "--no-input")
    assert done.returncode == 1
    assert "django_wxpay_media.E003" in done.stderr and "Did you mean 'TIMEOUT'?" in done.stderr


def test_a_wrong_storage_is_a_check_error_not_a_crash_at_startup(tmp_path):
    """Loading models never resolves the storage, so the check can say what is wrong."""
    for value, message in (("'nowhere'", "is not an entry in STORAGES"), ("5", "must be the name of an entry")):
        done = _django(tmp_path, f"{{'STORAGE': {value}}}", "check")
        assert done.returncode == 1
        assert "django_wxpay_media.E025" in done.stderr and message in done.stderr
        assert "Traceback" not in done.stderr
