"""conf.py: reading WXPAY_MEDIA, rejecting typos, and the lazily built, cached client."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.test import override_settings

from django_wxpay_media import conf, services
from tests.images import png

REPO = Path(__file__).resolve().parent.parent


def pem_private(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def merchant_pem() -> str:
    return pem_private()


@pytest.fixture
def minimal(settings, merchant_pem):
    """A complete WXPAY_MEDIA in certificate mode (no network needed to build a client)."""
    settings.WXPAY_MEDIA = {
        "MCHID": "1900000001",
        "MERCHANT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "PRIVATE_KEY": merchant_pem,
        "APIV3_KEY": "0123456789abcdef0123456789ABCDEF",
    }
    return settings


# -- values and defaults ---------------------------------------------------------------------


def test_defaults_fill_what_is_not_given(minimal):
    assert conf.get_setting("API_BASE_URL") == "https://api.mch.weixin.qq.com"
    assert conf.get_setting("TIMEOUT") == 10
    assert conf.get_setting("MAX_RETRIES") == 3
    assert conf.get_setting("RETRY_BACKOFF") == 0.5
    assert conf.get_setting("CONCURRENCY") == 4
    assert conf.get_setting("UPLOAD_TO") == "wxpay_media/%Y/%m/"
    assert conf.get_setting("STORAGE") == "default"
    assert conf.get_setting("MAX_FILES") == 4
    assert set(conf.get_settings()) == set(conf.VALID_KEYS)


def test_given_values_win(minimal):
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "TIMEOUT": 2.5, "CONCURRENCY": 1, "MAX_FILES": 3}
    assert (conf.get_setting("TIMEOUT"), conf.get_setting("CONCURRENCY"), conf.get_setting("MAX_FILES")) == (2.5, 1, 3)
    assert conf.get_mchid() == "1900000001"


def test_mchid_given_as_a_number_is_text(minimal):
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "MCHID": 1900000001}
    assert conf.get_mchid() == "1900000001"


def test_options_readable_without_the_setting(settings):
    # Listing stored images must not need the merchant keys.
    del settings.WXPAY_MEDIA
    assert conf.get_setting("STORAGE") == "default"
    with pytest.raises(ImproperlyConfigured, match="The WXPAY_MEDIA setting is missing"):
        conf.get_mchid()


def test_unknown_key_is_rejected_by_name(minimal):
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "TIMEOUTS": 5}
    with pytest.raises(ImproperlyConfigured) as excinfo:
        conf.get_setting("TIMEOUT")
    message = str(excinfo.value)
    assert "'TIMEOUTS'" in message
    assert "Did you mean 'TIMEOUT'?" in message
    for key in conf.VALID_KEYS:
        assert key in message


def test_not_a_dict(settings):
    settings.WXPAY_MEDIA = [("MCHID", "1")]
    with pytest.raises(ImproperlyConfigured, match="must be a dict, not list"):
        conf.get_settings()


@pytest.mark.parametrize("key", ["MCHID", "MERCHANT_SERIAL_NO"])
def test_missing_required_key_names_what_to_add(minimal, key):
    minimal.WXPAY_MEDIA = {k: v for k, v in minimal.WXPAY_MEDIA.items() if k != key}
    with pytest.raises(ImproperlyConfigured) as excinfo:
        conf.get_client()
    assert f"WXPAY_MEDIA['{key}'] is missing" in str(excinfo.value)
    assert f"'{key}': '" in str(excinfo.value)  # the line to write in settings.py


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TIMEOUT", 0),
        ("TIMEOUT", "10"),
        ("TIMEOUT", True),
        ("MAX_RETRIES", -1),
        ("MAX_RETRIES", 1.5),
        ("RETRY_BACKOFF", -0.1),
        ("CONCURRENCY", 0),
        ("MAX_FILES", 0),
        ("UPLOAD_TO", 42),
        ("STORAGE", ""),
    ],
)
def test_bad_option_values_are_rejected(minimal, key, value):
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, key: value}
    with pytest.raises(ImproperlyConfigured, match=rf"WXPAY_MEDIA\['{key}'\] must be"):
        conf.get_settings()


def test_upload_timeout_covers_every_retry(minimal):
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "TIMEOUT": 4, "MAX_RETRIES": 2}
    assert conf.upload_timeout().total_seconds() > 4 * 3


# -- the client ---------------------------------------------------------------------------------


def test_client_is_built_once_and_reused(minimal):
    client = conf.get_client()
    assert conf.get_client() is client
    assert client.base_url == "https://api.mch.weixin.qq.com"
    assert client.timeout == 10.0
    assert client.max_retries == 3


def test_client_is_rebuilt_when_the_setting_changes(minimal):
    first = conf.get_client()
    with override_settings(WXPAY_MEDIA={**minimal.WXPAY_MEDIA, "TIMEOUT": 3, "MAX_RETRIES": 1}):
        inside = conf.get_client()
        assert inside is not first
        assert (inside.timeout, inside.max_retries) == (3.0, 1)
    assert conf.get_client() is not inside


def test_concurrent_first_use_builds_one_client(minimal):
    conf.reset_client()
    barrier = threading.Barrier(8)
    clients = []

    def use():
        barrier.wait()
        clients.append(conf.get_client())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in clients}) == 1


def test_key_files_are_read(settings, tmp_path, wxpay_sandbox):
    settings.WXPAY_MEDIA = wxpay_sandbox.settings(paths_dir=tmp_path)
    assert "PRIVATE_KEY" not in settings.WXPAY_MEDIA and "PRIVATE_KEY_PATH" in settings.WXPAY_MEDIA
    client = conf.get_client()
    assert client.base_url == wxpay_sandbox.base_url


@pytest.mark.django_db
def test_uploads_work_with_key_files(settings, tmp_path, wxpay_sandbox):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WXPAY_MEDIA = wxpay_sandbox.settings(paths_dir=tmp_path)
    image = services.upload_image(png("key files"), filename="k.png")
    assert image.media_id == wxpay_sandbox.uploads[0].media_id


def test_unreadable_key_file_names_setting_and_path(minimal, tmp_path):
    options = {k: v for k, v in minimal.WXPAY_MEDIA.items() if k != "PRIVATE_KEY"}
    missing = tmp_path / "nope" / "apiclient_key.pem"
    minimal.WXPAY_MEDIA = {**options, "PRIVATE_KEY_PATH": str(missing)}
    conf.get_settings()  # reading options does not touch the key
    with pytest.raises(ImproperlyConfigured) as excinfo:
        conf.get_client()
    assert "WXPAY_MEDIA['PRIVATE_KEY_PATH']" in str(excinfo.value)
    assert str(missing) in str(excinfo.value)


def test_no_private_key(minimal):
    minimal.WXPAY_MEDIA = {k: v for k, v in minimal.WXPAY_MEDIA.items() if k != "PRIVATE_KEY"}
    with pytest.raises(ImproperlyConfigured, match=r"PRIVATE_KEY_PATH"):
        conf.get_client()


def test_both_private_key_forms(minimal, tmp_path):
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "PRIVATE_KEY_PATH": str(tmp_path / "k.pem")}
    with pytest.raises(ImproperlyConfigured, match="not both"):
        conf.get_client()


def test_bad_keys_are_reported_without_their_text(minimal, merchant_pem):
    # A real (throwaway) key with its end cut off: unparseable, and full of secret-looking text.
    lines = merchant_pem.splitlines()
    broken = "\n".join(lines[:4] + lines[-1:]) + "\n"
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "PRIVATE_KEY": broken}
    with pytest.raises(ImproperlyConfigured) as excinfo:
        conf.get_client()
    assert lines[1] not in str(excinfo.value) and lines[3] not in str(excinfo.value)
    assert excinfo.value.__cause__ is None  # no chained parser error that could quote the key

    small = pem_private(1024)
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "PRIVATE_KEY": small}
    with pytest.raises(ImproperlyConfigured, match="RSA-2048") as excinfo:
        conf.get_client()
    body = "".join(small.strip().splitlines()[1:-1])
    assert body[:40] not in str(excinfo.value)


def test_public_key_needs_its_id(minimal, wxpay_sandbox):
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "WECHATPAY_PUBLIC_KEY": wxpay_sandbox.keys.wechatpay_public_key_pem}
    with pytest.raises(ImproperlyConfigured, match="WECHATPAY_PUBLIC_KEY_ID"):
        conf.get_client()


def test_some_way_to_verify_answers_is_needed(minimal):
    minimal.WXPAY_MEDIA = {k: v for k, v in minimal.WXPAY_MEDIA.items() if k != "APIV3_KEY"}
    with pytest.raises(ImproperlyConfigured, match="APIV3_KEY"):
        conf.get_client()


def test_client_repr_has_no_secret(minimal, merchant_pem):
    text = repr(conf.get_client())
    assert "PRIVATE" not in text
    assert minimal.WXPAY_MEDIA["APIV3_KEY"] not in text


# -- storage ---------------------------------------------------------------------------------


def test_storage_follows_the_alias(minimal, tmp_path):
    minimal.STORAGES = {
        **minimal.STORAGES,
        "wxpay": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "STORAGE": "wxpay"}
    name = conf.get_storage().save("x/hello.txt", ContentFile(b"hi"))
    assert (tmp_path / name).read_bytes() == b"hi"
    assert conf.get_storage().exists(name)
    assert conf.get_storage().location == str(tmp_path)


# -- nothing at import time -------------------------------------------------------------------


def test_import_and_setup_never_read_keys(tmp_path):
    """A broken WXPAY_MEDIA must not break importing the app; only use (and checks) report it."""
    (tmp_path / "broken_settings.py").write_text(
        textwrap.dedent(
            """
            from tests.settings import *  # noqa: F403
            WXPAY_MEDIA = {"MCHID": "1", "PRIVATE_KEY_PATH": "/nonexistent/key.pem", "TYPO": 1}
            """
        )
    )
    code = (
        "import django; django.setup()\n"
        "import django_wxpay_media.services, django_wxpay_media.models, django_wxpay_media.checks\n"
        "from django_wxpay_media import conf\n"
        "assert conf._client is None\n"
        "print('imported')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": "broken_settings",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
