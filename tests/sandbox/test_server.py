"""The Sandbox facade: recording, settings, life cycle."""

from __future__ import annotations

import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from django_wxpay_media.sandbox import Sandbox, SandboxKeys

from .apiv3 import (
    MCHID,
    PNG,
    Caller,
)

# --- recording, settings, life cycle -----------------------------------------------------------------


def test_concurrent_uploads(sandbox: Sandbox) -> None:
    results: list[requests.Response] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        c = Caller(sandbox)
        try:
            data = PNG + i.to_bytes(2, "big")
            response = c.upload(data, f"p{i}.png")
        finally:
            c.close()
        with lock:
            results.append(response)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in results) == [200] * 12
    assert len({r.json()["media_id"] for r in results}) == 12
    assert sorted(u.filename for u in sandbox.uploads) == sorted(f"p{i}.png" for i in range(12))


def test_settings_per_mode(wxpay_sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> None:
    pub = wxpay_sandbox_factory(mode="public_key")
    s = pub.settings()
    assert s["API_BASE_URL"] == pub.base_url and s["MCHID"] == MCHID
    assert s["PRIVATE_KEY"] == pub.keys.merchant_private_key_pem
    assert s["WECHATPAY_PUBLIC_KEY_ID"].startswith("PUB_KEY_ID_01" + MCHID)
    assert len(s["APIV3_KEY"]) == 32  # complaint notifications need it in every mode
    cert = wxpay_sandbox_factory(mode="certificate").settings()
    assert len(cert["APIV3_KEY"]) == 32 and "WECHATPAY_PUBLIC_KEY" not in cert
    both = wxpay_sandbox_factory(mode="both").settings(paths_dir=tmp_path)
    assert {"APIV3_KEY", "WECHATPAY_PUBLIC_KEY_ID", "PRIVATE_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH"} <= set(both)
    assert "PRIVATE_KEY" not in both and "WECHATPAY_PUBLIC_KEY" not in both
    private = Path(both["PRIVATE_KEY_PATH"])
    assert private.read_text() == pub.keys.merchant_private_key_pem
    assert Path(both["WECHATPAY_PUBLIC_KEY_PATH"]).read_text() == pub.keys.wechatpay_public_key_pem
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "PRIVATE" not in repr(pub.keys) and pub.keys.apiv3_key not in repr(pub.keys)


def test_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="mode"):
        Sandbox(mode="cert", keys=SandboxKeys.shared())
