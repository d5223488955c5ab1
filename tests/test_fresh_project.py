"""A fresh project can migrate before it has keys (issue 10), and one built as README.rst says works.

Absent or partly filled-in ``WXPAY_MEDIA`` is reported where it matters — ``check
--deploy``, the first upload, :func:`conf.configuration_problems` for an admin
banner — and never blocks ``migrate``, ``check`` or the site's own tests. A
setting that is present but wrong still stops every command.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests
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


# -- a project built the way README.rst says ------------------------------------------------------

#: How long a start or a request may take before the test calls it hung (not a timing assertion).
PATIENCE = 60


def readme_snippets(marker: str) -> str:
    """The Python blocks of README's "Install in your project" whose first line is ``marker``, joined."""
    text = (REPO / "README.rst").read_text(encoding="utf-8")
    section = text.split("\nInstall in your project\n", 1)[1].split("\n=====", 1)[0]
    lines = section.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        block = textwrap.dedent("\n".join(body)).strip("\n")
        if block.splitlines()[0] == marker:
            blocks.append(block)
    assert blocks, f"README.rst has no block starting with {marker!r}"
    return "\n\n".join(blocks) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def form_fields(session, url: str) -> dict[str, str]:
    """The hidden fields a browser posts back with the form at ``url``: the CSRF token, and
    the desk's one-time form token where the form has one."""
    page = session.get(url, timeout=PATIENCE)
    assert page.status_code == 200, page.text[:500]
    hidden = ("csrfmiddlewaretoken", "wxpay_form_token")
    return {
        name: match.group(1) for name in hidden if (match := re.search(rf'name="{name}" value="([^"]+)"', page.text))
    }


def csrf(session, url: str) -> str:
    return form_fields(session, url)["csrfmiddlewaretoken"]


def image_sources(html: str, prefix: str) -> list[str]:
    return sorted(set(re.findall(rf'<img src="({re.escape(prefix)}[^"]+)"', html)))


def test_a_project_set_up_as_the_readme_says_uploads_and_previews_every_image(tmp_path, wxpay_sandbox):
    sandbox = wxpay_sandbox
    site = tmp_path / "site"
    site.mkdir()
    # The project's own environment: none of the test run's Django variables (pytest-django
    # sets DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly refuses).
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env = {**base_env, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "mysite.settings"}

    def manage(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=site,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
        )

    made = subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(site)],
        env={**base_env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=PATIENCE,
    )
    assert made.returncode == 0, made.stderr
    keys = tmp_path / "keys"
    real_keys = sandbox.settings(paths_dir=keys)
    with (site / "mysite" / "settings.py").open("a", encoding="utf-8") as settings_file:
        settings_file.write("\n" + readme_snippets("# In settings.py:"))
        settings_file.write(f"\n# The real keys; here the sandbox's.\nWXPAY_MEDIA.update({real_keys!r})\n")
    with (site / "mysite" / "urls.py").open("a", encoding="utf-8") as urls_file:
        urls_file.write("\n" + readme_snippets("# In urls.py:"))

    for command in (["migrate"], ["check", "--deploy"], ["wxpay_media", "doctor"]):
        done = manage(*command)
        if command[0] == "check":
            # Nothing of ours to settle; Django's own deploy checks speak of the fresh
            # project (from 6.1 on, an error for startproject's development e-mail backend).
            said = done.stdout + done.stderr
            assert "django_wxpay_media." not in said and "wxpay_complaints." not in said, said
            continue
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert "All agree" in done.stdout
    done = manage(
        "createsuperuser",
        "--noinput",
        "--username",
        "boss",
        "--email",
        "b@example.com",
        DJANGO_SUPERUSER_PASSWORD="a long enough password",
    )
    assert done.returncode == 0, done.stderr

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=site,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + PATIENCE
        while True:  # polling with a deadline: the server is up when it accepts a connection
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None and time.monotonic() < deadline, "runserver did not start"
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        login = f"{base}/admin/login/"
        response = session.post(
            login,
            data={
                "csrfmiddlewaretoken": csrf(session, login),
                "username": "boss",
                "password": "a long enough password",
                "next": "/admin/",
            },
            headers={"Referer": login},
            timeout=PATIENCE,
        )
        assert response.status_code == 200 and response.url == f"{base}/admin/"

        # Upload through the admin: stored in the private folder, sent to WeChat Pay.
        add = f"{base}/admin/django_wxpay_media/feedbackimage/add/"
        response = session.post(
            add,
            data={"csrfmiddlewaretoken": csrf(session, add)},
            files={"upload": ("receipt.png", png_bytes(80), "image/png")},
            headers={"Referer": add},
            timeout=PATIENCE,
        )
        assert response.status_code == 200 and "was uploaded to WeChat Pay" in response.text, response.text[:2000]
        with sqlite3.connect(site / "db.sqlite3") as db:
            [(stored,)] = db.execute("SELECT file FROM django_wxpay_media_feedbackimage").fetchall()
        assert (site / "private" / "wxpay" / stored).read_bytes() == png_bytes(80)

        # Every preview loads through its admin view, in Chinese too (LocaleMiddleware).
        listing = session.get(
            f"{base}/admin/django_wxpay_media/feedbackimage/", headers={"Accept-Language": "zh-hans"}, timeout=PATIENCE
        )
        assert "反馈图片" in listing.text
        [thumbnail] = image_sources(listing.text, "/admin/django_wxpay_media/feedbackimage/")
        change = re.search(r'href="(/admin/django_wxpay_media/feedbackimage/\d+/change/)', listing.text).group(1)
        [preview] = image_sources(session.get(base + change, timeout=PATIENCE).text, "/admin/")
        assert preview == thumbnail
        image = session.get(base + preview, timeout=PATIENCE)
        assert image.status_code == 200 and image.content == png_bytes(80)
        assert image.headers["Content-Type"] == "image/png"
        assert session.get(f"{base}/media/{stored}", timeout=PATIENCE).status_code == 404  # nothing public

        # The desk: a complaint notified to the README's URL, its pictures, a reply with an image.
        complaint_id = sandbox.seed_complaint(images=2)["complaint_id"]
        assert sandbox.notify(complaint_id, url=f"{base}/wxpay/complaints/notify/") == 204
        with sqlite3.connect(site / "db.sqlite3") as db:
            [(pk,)] = db.execute("SELECT id FROM wxpay_complaints_complaint").fetchall()
        reply = f"{base}/admin/wxpay_complaints/complaint/{pk}/reply/"
        response = session.post(
            reply,
            data={**form_fields(session, reply), "content": "已为您处理，请查收。"},
            files={"images": ("evidence.png", png_bytes(81), "image/png")},
            headers={"Referer": reply},
            timeout=PATIENCE,
        )
        assert response.status_code == 200, response.text[:2000]
        page = session.get(f"{base}/admin/wxpay_complaints/complaint/{pk}/change/", timeout=PATIENCE).text
        consumer = image_sources(page, "/admin/wxpay_complaints/complaint/image/")
        replied = image_sources(page, "/admin/wxpay_complaints/complaint/reply-image/")
        assert len(consumer) == 2 and len(replied) == 1
        for source in consumer + replied:
            loaded = session.get(base + source, timeout=PATIENCE)
            assert loaded.status_code == 200 and loaded.headers["Content-Type"].startswith("image/"), source
        assert session.get(base + replied[0], timeout=PATIENCE).content == png_bytes(81)
    finally:
        server.terminate()
        server.wait(timeout=PATIENCE)
