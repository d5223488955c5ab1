"""``python -m django_wxpay_media.sandbox``."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from django_wxpay_media.sandbox import SandboxKeys

from .apiv3 import (
    BOUNDARY,
    PNG,
    UPLOAD,
    authorization,
    meta_json,
    multipart,
)

# --- the command line -------------------------------------------------------------------------


@contextmanager
def running_cli(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m django_wxpay_media.sandbox --port 0 *args``, unbuffered, with pipes.

    Killed on the way out if still running (a failed assertion must not leave a server behind).
    """
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "django_wxpay_media.sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen[str], signum: int) -> str:
    """Send ``signum``, wait for the command to exit, and return what it wrote on stderr."""
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=15)
    return stderr


def printed_settings(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The ``WXPAY_MEDIA = {...}`` snippet the command prints first, evaluated."""
    assert proc.stdout is not None
    snippet = ""
    for line in proc.stdout:
        snippet += line
        if line.startswith("}"):
            break
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    return namespace["WXPAY_MEDIA"]


def test_cli_prints_settings_serves_logs_and_exits_cleanly(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    with running_cli("--mode", "both", "--keys-dir", str(keys_dir)) as proc:
        conf = printed_settings(proc)
        assert {"PRIVATE_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH", "WECHATPAY_PUBLIC_KEY_ID", "APIV3_KEY"} <= set(conf)
        assert "PRIVATE_KEY" not in conf
        assert stat.S_IMODE(Path(conf["PRIVATE_KEY_PATH"]).stat().st_mode) == 0o600
        keys = SandboxKeys.load(keys_dir)
        assert keys.merchant_serial_no == conf["MERCHANT_SERIAL_NO"]
        url = conf["API_BASE_URL"]
        assert requests.get(url + "/nowhere", timeout=5).status_code == 404
        meta = meta_json("cli.png", hashlib.sha256(PNG).hexdigest())
        response = requests.post(
            url + UPLOAD,
            data=multipart(meta, PNG, b"cli.png"),
            headers={
                "Authorization": authorization(keys, "POST", UPLOAD, meta, mchid=conf["MCHID"]),
                "Accept": "application/json",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
            timeout=5,
        )
        assert response.status_code == 200, response.text
        stderr = stop(proc, signal.SIGINT)
    assert proc.returncode == 0, stderr
    assert "GET /nowhere 404 NOT_FOUND" in stderr
    assert f"POST {UPLOAD} 200 -" in stderr
    assert "PRIVATE KEY" not in stderr and keys.apiv3_key not in stderr


def test_cli_default_keys_dir_is_removed_on_sigterm() -> None:
    with running_cli() as proc:
        conf = printed_settings(proc)
        key_path = Path(conf["PRIVATE_KEY_PATH"])
        assert key_path.exists() and len(conf["APIV3_KEY"]) == 32  # for notifications
        stderr = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, stderr
    assert not key_path.parent.exists()
