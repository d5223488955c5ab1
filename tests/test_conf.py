"""conf.py: reading WXPAY_MEDIA, rejecting typos, and the lazily built, cached client."""

from __future__ import annotations

import functools
import tempfile
import threading
from pathlib import Path

import hypothesis
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.test import override_settings
from hypothesis import strategies as st

from django_wxpay_media import conf, services
from django_wxpay_media.models import FeedbackImage
from tests.images import png

from .test_fresh_project import run_in_project


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
    assert f"Add WXPAY_MEDIA['{key}'] = '" in str(excinfo.value)  # the line to write in settings.py
    assert isinstance(excinfo.value, conf.ConfigurationProblem)
    assert excinfo.value.problem.id == {"MCHID": "E004", "MERCHANT_SERIAL_NO": "E005"}[key]
    assert excinfo.value.problem.check_id in str(excinfo.value)  # the id the system check reports


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
    with pytest.raises(ImproperlyConfigured, match="sets both PRIVATE_KEY and PRIVATE_KEY_PATH"):
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


def _filesystem(location, **options):
    return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(location), **options}}


def test_every_storage_method_is_the_backends_own(minimal, tmp_path):
    """FileSystemStorage(allow_overwrite=True) through the app's storage: same name, new bytes."""
    minimal.STORAGES = {**minimal.STORAGES, "evidence": _filesystem(tmp_path, allow_overwrite=True)}
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "STORAGE": "evidence"}
    storage = conf.get_storage()
    first = storage.save("a/receipt.png", ContentFile(b"first"))
    # Storage's own is_name_available() would say "taken" here; the backend's says free.
    assert storage.is_name_available(first)
    assert storage.get_available_name(first) == first
    again = storage.save("a/receipt.png", ContentFile(b"second"))
    assert again == first == "a/receipt.png"
    assert (tmp_path / "a" / "receipt.png").read_bytes() == b"second"
    assert isinstance(storage, FileSystemStorage)
    # The model's field uses the very same object.
    assert FeedbackImage._meta.get_field("file").storage is storage


def test_without_overwrite_the_backend_picks_a_new_name(minimal, tmp_path):
    minimal.STORAGES = {**minimal.STORAGES, "evidence": _filesystem(tmp_path)}
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "STORAGE": "evidence"}
    storage = conf.get_storage()
    first = storage.save("b/receipt.png", ContentFile(b"first"))
    assert not storage.is_name_available(first)
    second = storage.save("b/receipt.png", ContentFile(b"second"))
    assert second != first
    assert (tmp_path / first).read_bytes() == b"first"


def test_override_settings_of_storages_and_wxpay_media_are_seen(minimal, tmp_path):
    storage = FeedbackImage._meta.get_field("file").storage
    outside = storage.location
    with override_settings(STORAGES={**minimal.STORAGES, "default": _filesystem(tmp_path / "one")}):
        assert storage.location == str(tmp_path / "one")
        with override_settings(
            STORAGES={**minimal.STORAGES, "two": _filesystem(tmp_path / "two")},
            WXPAY_MEDIA={**minimal.WXPAY_MEDIA, "STORAGE": "two"},
        ):
            assert storage.location == str(tmp_path / "two")
            storage.save("x.txt", ContentFile(b"2"))
            assert (tmp_path / "two" / "x.txt").read_bytes() == b"2"
        assert storage.location == str(tmp_path / "one")
    assert storage.location == outside


def test_a_bad_storage_value_names_the_setting(minimal):
    minimal.WXPAY_MEDIA = {**minimal.WXPAY_MEDIA, "STORAGE": 5}
    with pytest.raises(ImproperlyConfigured, match=r"WXPAY_MEDIA\['STORAGE'\] must be"):
        conf.get_storage().exists("x")


# -- nothing at import time -------------------------------------------------------------------


def test_import_and_setup_never_read_keys(tmp_path):
    """A broken WXPAY_MEDIA must not break importing the app; only use (and checks) report it."""
    code = (
        "import django; django.setup()\n"
        "import django_wxpay_media.services, django_wxpay_media.models, django_wxpay_media.checks\n"
        "from django_wxpay_media import conf\n"
        "assert conf._client is None\n"
        "print('imported')\n"
    )
    done = run_in_project(
        tmp_path,
        'WXPAY_MEDIA = {"MCHID": "1", "PRIVATE_KEY_PATH": "/nonexistent/key.pem", "TYPO": 1}\n',
        "-c",
        code,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


# -- one rule set: what the checks report is what building the client raises ----------------


@functools.cache
def _pems() -> dict[str, str]:
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "private": merchant.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "public": merchant.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "small": pem_private(1024),
    }


_KEY_FILES = Path(tempfile.mkdtemp(prefix="wxpay_media_conf_keys_"))


def _values():
    pems = _pems()
    (_KEY_FILES / "private.pem").write_text(pems["private"])
    (_KEY_FILES / "public.pem").write_text(pems["public"])
    junk = st.one_of(
        st.none(),
        st.text(max_size=40),
        st.binary(max_size=40),
        st.integers(-3, 10),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    )
    # Half the values are ones a developer might really write, right or wrong for the key.
    return st.one_of(
        st.sampled_from(
            [
                "",
                pems["private"],
                pems["public"],
                pems["small"],
                pems["private"].encode(),
                str(_KEY_FILES / "private.pem"),
                str(_KEY_FILES / "public.pem"),
                str(_KEY_FILES / "missing.pem"),
                str(_KEY_FILES),
                "0123456789abcdef0123456789ABCDEF",
                "PUB_KEY_ID_0119000000012025010100000000000001",
                "https://api.mch.weixin.qq.com",
                "http://127.0.0.1:9",
                "http://example.com",
                "default",
                "nowhere",
                "1900000001",
            ]
        ),
        junk,
    )


def _valid_bases() -> list[dict]:
    pems = _pems()
    common = {"MCHID": "1900000001", "MERCHANT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}
    public = {"WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0119000000012025010100000000000001"}
    return [
        {**common, **public, "PRIVATE_KEY": pems["private"], "WECHATPAY_PUBLIC_KEY": pems["public"]},
        {
            **common,
            "PRIVATE_KEY_PATH": str(_KEY_FILES / "private.pem"),
            "APIV3_KEY": "0123456789abcdef0123456789ABCDEF",
        },
        {
            **common,
            **public,
            "PRIVATE_KEY": pems["private"],
            "WECHATPAY_PUBLIC_KEY_PATH": str(_KEY_FILES / "public.pem"),
        },
    ]


def _changed_setting():
    """A working setting with one or two values changed: still valid, or one or two rules broken."""
    return st.builds(
        lambda base, changes: {**base, **changes},
        st.sampled_from(_valid_bases()),
        st.dictionaries(st.sampled_from(conf.VALID_KEYS), _values(), min_size=1, max_size=2),
    )


def _any_setting():
    keys = st.one_of(st.sampled_from(conf.VALID_KEYS), st.text(min_size=1, max_size=12))
    return st.one_of(
        st.none(),
        st.dictionaries(keys, _values(), max_size=12),
        st.dictionaries(st.sampled_from(conf.VALID_KEYS), _values(), min_size=6, max_size=16),
        st.integers(),
        st.text(max_size=5),
    )


def _same_rules(options) -> None:
    """The client is built iff no check reports an error; otherwise the first error is what is raised."""
    from django_wxpay_media.checks import check_deployment, check_settings

    with override_settings(DEBUG=True, WXPAY_MEDIA=options):
        reported = check_settings(None) + check_deployment(None)
        errors = sorted((m for m in reported if m.is_serious()), key=lambda m: m.id)
        if errors:
            with pytest.raises(conf.ConfigurationProblem) as info:
                conf.get_client()
            assert info.value.problem.check_id in {m.id for m in errors}
            assert info.value.problem.message in {m.msg for m in errors}
            assert not conf.is_configured()
        else:
            conf.get_client()  # built: no check reported an error
            assert conf.is_configured()


@hypothesis.settings(max_examples=60, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(options=_changed_setting())
def test_checks_and_build_client_agree_on_a_changed_setting(options):
    _same_rules(options)


@hypothesis.settings(max_examples=100, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(options=_any_setting())
def test_checks_and_build_client_agree_on_any_setting(options):
    _same_rules(options)
