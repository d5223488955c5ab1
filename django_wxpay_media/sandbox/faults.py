"""Injected faults: what the sandbox does instead of answering normally.

A fault is queued with :meth:`Sandbox.add_fault` for the next ``count`` requests to
a path and checked when it is added, so a typo in a test fails loudly instead of
testing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULT_KINDS", "UPLOAD_PATH", "Fault"]

UPLOAD_PATH = "/v3/merchant-service/images/upload"

#: Each kind and the options it takes, with their defaults.
FAULT_KINDS: dict[str, dict[str, Any]] = {
    # Error answer: status, WeChat code and message; unsigned unless signed=True.
    "status": {
        "status": 500,
        "code": "SYSTEM_ERROR",
        "message": "System error (sandbox fault)",
        "signed": False,
        "headers": None,
    },
    # Wait, then handle normally (the upload IS performed: the client merely timed out).
    "delay": {"seconds": 1.0},
    # Close the connection without any answer.
    "drop": {},
    # Success body, Wechatpay-Signature is random base64.
    "forged_signature": {},
    # Success body, signature "WECHATPAY/SIGNTEST/…" (WeChat's probe of caller verification).
    "probe_signature": {},
    # Success body correctly signed over a timestamp ``offset`` seconds away from now.
    "stale_timestamp": {"offset": -600},
    # Success body signed by the right key, Wechatpay-Serial names an unknown serial.
    "unknown_serial": {"serial": None},
    # Success body signed by an unrelated RSA key, Wechatpay-Serial of the real key.
    "wrong_key": {},
    # Success body without the Wechatpay-* signature headers (``omit`` chooses which).
    "missing_headers": {
        "omit": (
            "Wechatpay-Timestamp",
            "Wechatpay-Nonce",
            "Wechatpay-Serial",
            "Wechatpay-Signature",
            "Wechatpay-Signature-Type",
        )
    },
    # A proxy's answer: text/plain "Bad Gateway".
    "non_json": {"status": 502, "body": "Bad Gateway", "signed": False},
}


@dataclass
class Fault:
    """One queued fault: ``kind``, how many requests it still applies to, its options."""

    kind: str
    count: int
    path: str | None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, kind: str, count: int = 1, path: str | None = UPLOAD_PATH, **opts: Any) -> Fault:
        """Check ``kind`` and ``opts`` and fill in the defaults."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(sorted(FAULT_KINDS))}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"fault count must be a positive integer, not {count!r}")
        defaults = FAULT_KINDS[kind]
        unknown = set(opts) - set(defaults)
        if unknown:
            allowed = ", ".join(sorted(defaults)) or "none"
            raise TypeError(f"fault {kind!r} takes no option(s) {', '.join(sorted(unknown))} (allowed: {allowed})")
        options = {**defaults, **opts}
        if "status" in options and not (100 <= int(options["status"]) <= 599):
            raise ValueError(f"status must be an HTTP status code, not {options['status']!r}")
        if kind == "delay" and float(options["seconds"]) < 0:
            raise ValueError("delay seconds must not be negative")
        return cls(kind=kind, count=count, path=path, options=options)

    def matches(self, path: str) -> bool:
        """Whether this fault applies to a request for ``path`` (``path=None``: any)."""
        return self.path is None or self.path == path
