"""Smoke check of an installed django-wxpay-media, run by .ci/check-dist in a fresh venv.

Uses only the public contract, the way a new project would: a tiny settings module,
``django-admin check``, ``migrate``, and ``wxpay_upload`` of one image to the sandbox
(over a real socket). Run it from a folder that holds no source checkout, so that the
installed copy is what gets imported.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from importlib import metadata
from pathlib import Path

import django_wxpay_media
from django_wxpay_media.sandbox import Sandbox

SETTINGS = """\
import json
SECRET_KEY = "smoke-check-not-secret"
USE_TZ = True
DEBUG = True  # the sandbox runs on loopback: W001 would rightly warn otherwise
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django_wxpay_media",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {{"context_processors": [
                  "django.template.context_processors.request",
                  "django.contrib.auth.context_processors.auth",
                  "django.contrib.messages.context_processors.messages"]}}}}]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
MEDIA_ROOT = {media!r}
WXPAY_MEDIA = json.loads({wxpay!r})
"""


def png() -> bytes:
    """A valid 2x2 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x10\x80\xf0" * 2 for _ in range(2))
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def run(*args: str, env: dict[str, str]) -> str:
    print("$", *args, flush=True)
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"smoke check failed: {' '.join(args)} exited {done.returncode}")
    return done.stdout


def main() -> None:
    if "site-packages" not in Path(django_wxpay_media.__file__).parts:
        raise SystemExit(f"imported {django_wxpay_media.__file__}, not an installed copy: run outside the source tree")
    installed = metadata.version("django-wxpay-media")
    if installed != django_wxpay_media.__version__:
        raise SystemExit(f"metadata says {installed}, the package says {django_wxpay_media.__version__}")
    print(f"django-wxpay-media {installed} from {Path(django_wxpay_media.__file__).parent}")
    package = Path(django_wxpay_media.__file__).parent
    for data in ("py.typed", "locale/zh_Hans/LC_MESSAGES/django.mo"):
        if not (package / data).is_file():
            raise SystemExit(f"the installed package lacks {data}")

    with tempfile.TemporaryDirectory(prefix="wxpay-smoke-") as tmp, Sandbox() as sandbox:
        folder = Path(tmp)
        (folder / "smoke_settings.py").write_text(
            SETTINGS.format(
                db=str(folder / "db.sqlite3"), media=str(folder / "media"), wxpay=json.dumps(sandbox.settings())
            )
        )
        image = folder / "receipt.png"
        image.write_bytes(png())
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "smoke_settings", "PYTHONPATH": str(folder)}
        run(sys.executable, "-m", "django_wxpay_media", "--help", env=env)
        run("django-admin", "check", "--fail-level", "WARNING", env=env)
        run("django-admin", "migrate", "--verbosity", "0", env=env)
        out = run("django-admin", "wxpay_upload", str(image), env=env)
        path, _, media_id = out.strip().partition("\t")
        if path != str(image) or not media_id:
            raise SystemExit(f"wxpay_upload printed {out!r}, not PATH<TAB>MEDIA_ID")
    print("smoke check passed")


if __name__ == "__main__":
    main()
