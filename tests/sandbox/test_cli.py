"""``python -m django_wxpay_media.sandbox``."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
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


def start_cli(*args: str) -> subprocess.Popen[str]:
    """``python -m django_wxpay_media.sandbox --port 0 *args``, unbuffered, with pipes."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "django_wxpay_media.sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


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
    proc = start_cli("--mode", "both", "--keys-dir", str(keys_dir))
    try:
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
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "GET /nowhere 404 NOT_FOUND" in stderr
    assert f"POST {UPLOAD} 200 -" in stderr
    assert "PRIVATE KEY" not in stderr and keys.apiv3_key not in stderr


def test_cli_default_keys_dir_is_removed_on_sigterm() -> None:
    proc = start_cli()
    try:
        conf = printed_settings(proc)
        key_path = Path(conf["PRIVATE_KEY_PATH"])
        assert key_path.exists() and len(conf["APIV3_KEY"]) == 32  # for notifications
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert not key_path.parent.exists()
