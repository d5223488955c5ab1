"""The ``wxpay_upload`` management command, in-process and as a real ``python -m django``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.management.commands.wxpay_upload import escape
from django_wxpay_media.models import FeedbackImage
from tests.helpers import fuzz

from .images import png

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("media_root")


@pytest.fixture
def images(tmp_path):
    """Write image files; returns a function ``make(name, tag) -> path string``."""

    def make(name: str, data: bytes | str) -> str:
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(png(data) if isinstance(data, str) else data)
        return str(path)

    return make


def run(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("wxpay_upload", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


@pytest.mark.django_db
def test_prints_path_tab_media_id(wxpay_settings, images):
    a, b = images("a.png", "cmd a"), images("b.png", "cmd b")
    out, err, exc = run(a, b)
    assert exc is None, err
    assert err == ""
    media = {u.sha256: u.media_id for u in wxpay_settings.uploads}
    expected = [
        f"{a}\t{media[hashlib.sha256(png('cmd a')).hexdigest()]}",
        f"{b}\t{media[hashlib.sha256(png('cmd b')).hexdigest()]}",
    ]
    assert out.splitlines() == expected
    assert FeedbackImage.objects.uploaded().count() == 2


@pytest.mark.django_db
def test_reports_each_failure_and_goes_on(wxpay_settings, images, tmp_path, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": 1}  # the fault hits the first upload
    rejected = images("rejected.png", "cmd rejected")
    good = images("good.png", "cmd good")
    text = images("notes.txt", b"plain text, not an image")
    missing = str(tmp_path / "missing.png")
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="文件名不对")

    out, err, exc = run(rejected, text, missing, good)

    assert exc is not None
    assert str(exc) == "3 of 4 uploads failed."
    [good_upload] = wxpay_settings.uploads
    assert out.splitlines() == [f"{good}\t{good_upload.media_id}"]
    lines = err.splitlines()
    assert len(lines) == 3
    [param_request] = [r for r in wxpay_settings.requests if r.response_code == "PARAM_ERROR"]
    assert lines[0].startswith(f"{rejected}: ")
    assert "文件名不对" in lines[0]
    assert "code PARAM_ERROR" in lines[0]
    assert f"Request-ID {param_request.request_id}" in lines[0]
    assert lines[1].startswith(f"{text}: ")
    assert "not a JPEG, PNG or BMP image" in lines[1]
    assert "code UNSUPPORTED_FORMAT" in lines[1]
    assert "Request-ID" not in lines[1]
    assert lines[2].startswith(f"{missing}: cannot read the file")
    assert "FILE_UNREADABLE" in lines[2]
    failed = FeedbackImage.objects.get(filename="rejected.png")
    assert (failed.status, failed.error_code) == (FeedbackImage.Status.FAILED, "PARAM_ERROR")


@pytest.mark.django_db
def test_failure_reasons_are_translated(wxpay_settings, images):
    path = images("notes.txt", b"plain text")
    with translation.override("zh-hans"):
        _, err, exc = run(path)
    assert exc is not None
    assert err == f"{path}: 该文件不是 JPEG、PNG 或 BMP 图片。 (错误码 UNSUPPORTED_FORMAT)\n"
    assert str(exc) == "1 个上传中有 1 个失败。"


@pytest.mark.django_db
def test_retry_failed_finishes_records_by_filename(wxpay_settings, images):
    first, second = images("first.png", "retry 1"), images("second.png", "retry 2")
    wxpay_settings.add_fault("status", status=500, count=6)  # 3 tries each
    _, err, exc = run(first, second)
    assert str(exc) == "2 of 2 uploads failed."
    assert err.count("code SYSTEM_ERROR") == 2
    assert FeedbackImage.objects.failed().count() == 2
    wxpay_settings.reset()

    out, err, exc = run("--retry-failed")
    assert exc is None, err
    media = {u.filename: u.media_id for u in wxpay_settings.uploads}
    assert sorted(out.splitlines()) == [f"first.png\t{media['first.png']}", f"second.png\t{media['second.png']}"]
    assert FeedbackImage.objects.uploaded().count() == 2


@pytest.mark.django_db
def test_retry_failed_reports_what_still_fails(wxpay_settings, images):
    path = images("stubborn.png", "stubborn")
    wxpay_settings.add_fault("status", status=403, code="NO_AUTH", message="no", count=2)
    run(path)
    out, err, exc = run("--retry-failed")
    assert str(exc) == "1 of 1 upload failed."
    assert out == ""
    assert err.startswith("stubborn.png: ") and "code NO_AUTH" in err


@pytest.mark.django_db
def test_needs_paths_or_retry_failed(wxpay_settings):
    _, _, exc = run()
    assert exc is not None and "PATH" in str(exc)


@pytest.mark.django_db
def test_bad_settings_are_a_command_error(settings, images):
    settings.WXPAY_MEDIA = {"MCHID": "1900000001", "TIMEOUTS": 3}
    _, _, exc = run(images("a.png", "settings"))
    assert exc is not None
    assert "TIMEOUTS" in str(exc)
    assert FeedbackImage.objects.count() == 0


# -- a real process: exit codes, no traceback ------------------------------------------------

SHIM = textwrap.dedent(
    """
    import json, os
    from tests.settings import *  # noqa: F403

    DEBUG = True  # a sandbox URL warns (W001) when DEBUG is off
    DATABASES["default"]["NAME"] = os.environ["SHIM_DB_NAME"]  # noqa: F405
    MEDIA_ROOT = os.environ["SHIM_MEDIA_ROOT"]
    WXPAY_MEDIA = json.loads(os.environ["SHIM_WXPAY_MEDIA"])
    """
)


def _db_name() -> str:
    name = str(connection.settings_dict["NAME"])
    # The child runs in another directory: a relative SQLite file name must not move.
    return str(Path(name).resolve()) if connection.vendor == "sqlite" else name


def manage(
    tmp_path: Path,
    wxpay_media: dict,
    media_root: Path,
    *args: str,
    extra_env: dict[str, str] | None = None,
    text: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``manage.py wxpay_upload *args`` in a child process on this test's database and media.

    ``text=False`` leaves stdout/stderr as bytes (to check the exact encoding).
    """
    (tmp_path / "shim_settings.py").write_text(SHIM)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        "DJANGO_SETTINGS_MODULE": "shim_settings",
        "SHIM_DB_NAME": _db_name(),
        "SHIM_MEDIA_ROOT": str(media_root),
        "SHIM_WXPAY_MEDIA": json.dumps(wxpay_media),
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "wxpay_upload", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=text,
        check=False,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_exit_codes_of_a_real_process(wxpay_settings, settings, images, tmp_path, media_root):
    ok = images("ok.png", "process ok")
    done = manage(tmp_path, settings.WXPAY_MEDIA, media_root, ok)
    assert done.returncode == 0, done.stderr
    [upload] = wxpay_settings.uploads
    assert done.stdout == f"{ok}\t{upload.media_id}\n"
    assert done.stderr == ""
    assert FeedbackImage.objects.get().media_id == upload.media_id

    bad = images("bad.txt", b"not an image")
    other = images("other.png", "process other")
    done = manage(tmp_path, settings.WXPAY_MEDIA, media_root, bad, other, ok)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0].startswith(f"{bad}: ")
    assert "1 of 3 uploads failed." in done.stderr
    stdout = done.stdout.splitlines()
    assert [line.split("\t")[0] for line in stdout] == [other, ok]
    assert stdout[1] == f"{ok}\t{upload.media_id}"  # reused, not uploaded again
    assert len(wxpay_settings.uploads) == 2


@pytest.mark.django_db(transaction=True)
def test_bad_settings_exit_without_traceback(tmp_path, media_root, images):
    done = manage(tmp_path, {"MCHID": "1900000001"}, media_root, images("a.png", "no keys"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "django_wxpay_media.E005" in done.stderr  # the system check stops it first


# -- machine-readable output, whatever the path --------------------------------------------


def unescape(field: str) -> bytes:
    """The reader's side of ``escape``: the path's bytes back from one printed field."""
    out = bytearray()
    i = 0
    while i < len(field):
        char = field[i]
        if char != "\\":
            out += char.encode("utf-8")
            i += 1
            continue
        kind = field[i + 1]
        if kind in "\\tnr":
            out += {"\\": b"\\", "t": b"\t", "n": b"\n", "r": b"\r"}[kind]
            i += 2
        elif kind == "x":
            out.append(int(field[i + 2 : i + 4], 16))
            i += 4
        else:
            width = 4 if kind == "u" else 8
            out += chr(int(field[i + 2 : i + 2 + width], 16)).encode("utf-8", "surrogatepass")
            i += 2 + width
    return bytes(out)


@fuzz(500)
@given(st.binary(max_size=64))
def test_escape_is_one_field_and_keeps_every_byte(raw):
    name = os.fsdecode(raw)
    field = escape(name)
    assert "\t" not in field
    assert len(f"{field}\tMEDIA".splitlines()) == 1  # no line break of any kind
    field.encode("utf-8")  # printable on a UTF-8 stream
    assert unescape(field) == raw
    ascii_field = escape(name, ascii_only=True)
    assert ascii_field.isascii()
    assert unescape(ascii_field) == raw


@pytest.mark.django_db
def test_awkward_paths_print_one_line_each_and_the_batch_goes_on(wxpay_settings, tmp_path):
    folder = tmp_path / "awkward"
    folder.mkdir()
    raw_names = [b"tab\there.png", b"new\nline.png", b"latin1-\xe9t\xe9.png", "收据.png".encode()]
    paths = []
    for number, raw in enumerate(raw_names):
        path = os.path.join(os.fsencode(folder), raw)
        with open(path, "wb") as fh:
            fh.write(png(f"awkward {number}"))
        paths.append(os.fsdecode(path))

    out, err, exc = run(*paths)

    assert exc is None, err
    lines = out.splitlines()
    assert len(lines) == len(raw_names)
    media = {u.sha256: u.media_id for u in wxpay_settings.uploads}
    for number, (line, raw) in enumerate(zip(lines, raw_names, strict=True)):
        field, media_id = line.split("\t")
        assert unescape(field) == os.path.join(os.fsencode(folder), raw)
        assert media_id == media[hashlib.sha256(png(f"awkward {number}")).hexdigest()]
    assert "\\xe9t\\xe9.png" in lines[2] and "收据.png" in lines[3]


class _BrokenOnce(io.StringIO):
    """A stdout whose first write fails, as a closed pipe would."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def write(self, text: str) -> int:
        if not self.failed:
            self.failed = True
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


@pytest.mark.django_db
def test_a_line_that_cannot_be_printed_does_not_stop_the_batch(wxpay_settings, images, settings):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "CONCURRENCY": 1}
    first, second = images("first.png", "print 1"), images("second.png", "print 2")
    out, err = _BrokenOnce(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("wxpay_upload", first, second, stdout=out, stderr=err)
    assert str(caught.value) == "1 of 2 uploads failed."  # the lost line is not a silent success
    assert out.getvalue().splitlines() == [f"{second}\t{FeedbackImage.objects.get(filename='second.png').media_id}"]
    assert f"{first}: the result could not be printed (BrokenPipeError)" in err.getvalue()
    assert FeedbackImage.objects.uploaded().count() == 2  # both were uploaded all the same


@pytest.mark.django_db(transaction=True)
def test_an_ascii_only_stdout_gets_escapes_not_a_crash(wxpay_settings, settings, images, tmp_path, media_root):
    path = images("收据.png", "ascii stdout")
    done = manage(tmp_path, settings.WXPAY_MEDIA, media_root, path, extra_env={"PYTHONIOENCODING": "ascii"}, text=False)
    assert done.returncode == 0, done.stderr
    [upload] = wxpay_settings.uploads
    field, media_id = done.stdout.decode("ascii").rstrip("\n").split("\t")
    assert unescape(field) == path.encode("utf-8")
    assert media_id == upload.media_id


@pytest.mark.django_db(transaction=True)
def test_a_failure_is_printed_once(wxpay_settings, settings, images, tmp_path, media_root):
    wxpay_settings.add_fault("status", count=5, status=400, code="PARAM_ERROR", message="参数错误")
    refused = images("refused.png", "printed once")

    done = manage(tmp_path, settings.WXPAY_MEDIA, media_root, refused)

    assert done.returncode == 1
    [failure, summary] = done.stderr.splitlines()  # no log line repeating the failure
    assert failure.startswith(f"{refused}: ") and "PARAM_ERROR" in failure
    assert summary == "CommandError: 1 of 1 upload failed."
