"""Injected faults: what the sandbox does instead of answering normally.

Each kind is declared once in :data:`FAULT_KINDS` with its options and the function
that renders its answer. A fault is queued with :meth:`Sandbox.add_fault` for the next
``count`` requests to a path and checked when it is added, so a typo in a test fails
loudly instead of testing nothing.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from .answers import Answer, AnswerSigner, error_answer
from .keys import new_rsa_key

__all__ = ["FAULT_KINDS", "UPLOAD_PATH", "Fault", "FaultContext", "FaultQueue"]

UPLOAD_PATH = "/v3/merchant-service/images/upload"


@dataclass(frozen=True)
class FaultContext:
    """What a fault needs to render its answer to one request."""

    request_headers: Mapping[str, str]
    signer: AnswerSigner
    #: Whether the request was the certificate download (always certificate-signed).
    certificates: bool
    #: What a success would have answered, without creating anything.
    success_body: Callable[[], bytes]
    #: The status a success answers with (200, or 204 without content).
    success_status: int = 200


Renderer = Callable[[dict[str, Any], FaultContext], Answer | None]

_stranger_key: list[rsa.RSAPrivateKey] = []
_stranger_lock = threading.Lock()


def _stranger() -> rsa.RSAPrivateKey:
    """An RSA key nobody trusts (for the ``wrong_key`` fault); one per process."""
    with _stranger_lock:
        if not _stranger_key:
            _stranger_key.append(new_rsa_key())
        return _stranger_key[0]


def _random_b64() -> str:
    return base64.b64encode(secrets.token_bytes(256)).decode("ascii")


def _fake_serial_like(serial: str) -> str:
    """A serial nobody knows, of the same kind as ``serial``."""
    if serial.startswith("PUB_KEY_ID_"):
        return "PUB_KEY_ID_" + "".join(secrets.choice("0123456789") for _ in range(len(serial) - 11))
    return secrets.token_hex(20).upper()


def _maybe_signed(answer: Answer, opts: dict[str, Any], ctx: FaultContext) -> Answer:
    if opts["signed"]:
        answer.headers += ctx.signer.headers_for(answer.body, ctx.request_headers, certificates=ctx.certificates)
    return answer


def _status(opts: dict[str, Any], ctx: FaultContext) -> Answer:
    answer = _maybe_signed(
        error_answer(int(opts["status"]), str(opts["code"]), str(opts["message"])),
        opts,
        ctx,
    )
    answer.headers += [(str(k), str(v)) for k, v in (opts["headers"] or {}).items()]
    return answer


def _non_json(opts: dict[str, Any], ctx: FaultContext) -> Answer:
    text = str(opts["body"]).encode("utf-8")
    return _maybe_signed(
        Answer(
            status=int(opts["status"]),
            body=text,
            content_type="text/plain; charset=utf-8",
        ),
        opts,
        ctx,
    )


def _success_signed(
    make_headers: Callable[[bytes, str, rsa.RSAPrivateKey, dict[str, Any]], list[tuple[str, str]]],
) -> Renderer:
    """A renderer answering a success body with headers made by ``make_headers``."""

    def render(opts: dict[str, Any], ctx: FaultContext) -> Answer:
        body = ctx.success_body()
        serial, key = ctx.signer.key_for(ctx.request_headers, certificates=ctx.certificates)
        return Answer(status=ctx.success_status, body=body, headers=make_headers(body, serial, key, opts))

    return render


_sig = AnswerSigner.signature_headers


def _rewritten(opts: dict[str, Any], ctx: FaultContext) -> Answer:
    """The success answer with top-level JSON fields replaced by ``fields``, correctly signed."""
    data = json.loads(ctx.success_body())
    data.update(opts["fields"] or {})
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    serial, key = ctx.signer.key_for(ctx.request_headers, certificates=ctx.certificates)
    return Answer(status=ctx.success_status, body=body, headers=_sig(body, serial, key))


def _without(body: bytes, serial: str, key: rsa.RSAPrivateKey, opts: dict[str, Any]) -> list[tuple[str, str]]:
    omit = {name.lower() for name in opts["omit"]}
    return [h for h in _sig(body, serial, key) if h[0].lower() not in omit]


@dataclass(frozen=True)
class _Kind:
    defaults: dict[str, Any]
    #: ``None`` answers normally after the fault's effect (``delay``).
    render: Renderer


#: Each kind: its options with their defaults, and how it answers.
FAULT_KINDS_SPEC: dict[str, _Kind] = {
    # Error answer: status, WeChat code and message; unsigned unless signed=True.
    "status": _Kind(
        {
            "status": 500,
            "code": "SYSTEM_ERROR",
            "message": "System error (sandbox fault)",
            "signed": False,
            "headers": None,
        },
        _status,
    ),
    # Wait, then handle normally (the request IS performed: the client merely timed out).
    "delay": _Kind({"seconds": 1.0}, lambda opts, ctx: None),
    # Close the connection without any answer.
    "drop": _Kind({}, lambda opts, ctx: Answer(status=None)),
    # Success body, Wechatpay-Signature is random base64.
    "forged_signature": _Kind({}, _success_signed(lambda b, s, k, o: _sig(b, s, k, signature=_random_b64()))),
    # Success body, signature "WECHATPAY/SIGNTEST/…" (WeChat's probe of caller verification).
    "probe_signature": _Kind(
        {},
        _success_signed(lambda b, s, k, o: _sig(b, s, k, signature="WECHATPAY/SIGNTEST/" + _random_b64())),
    ),
    # Success body correctly signed over a timestamp ``offset`` seconds away from now.
    "stale_timestamp": _Kind(
        {"offset": -600},
        _success_signed(lambda b, s, k, o: _sig(b, s, k, timestamp=int(time.time()) + int(o["offset"]))),
    ),
    # Success body signed by the right key, Wechatpay-Serial names an unknown serial.
    "unknown_serial": _Kind(
        {"serial": None},
        _success_signed(lambda b, s, k, o: _sig(b, str(o["serial"] or _fake_serial_like(s)), k)),
    ),
    # Success body signed by an unrelated RSA key, Wechatpay-Serial of the real key.
    "wrong_key": _Kind({}, _success_signed(lambda b, s, k, o: _sig(b, s, _stranger()))),
    # Success body without the Wechatpay-* signature headers (``omit`` chooses which).
    "missing_headers": _Kind(
        {
            "omit": (
                "Wechatpay-Timestamp",
                "Wechatpay-Nonce",
                "Wechatpay-Serial",
                "Wechatpay-Signature",
                "Wechatpay-Signature-Type",
            )
        },
        _success_signed(_without),
    ),
    # The success answer with some JSON fields replaced (e.g. ``{"offset": 0}``), correctly signed.
    "rewrite_json": _Kind({"fields": None}, _rewritten),
    # A proxy's answer: text/plain "Bad Gateway".
    "non_json": _Kind({"status": 502, "body": "Bad Gateway", "signed": False}, _non_json),
}

#: Each kind and the options it takes, with their defaults.
FAULT_KINDS: dict[str, dict[str, Any]] = {kind: spec.defaults for kind, spec in FAULT_KINDS_SPEC.items()}


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
        if kind not in FAULT_KINDS_SPEC:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(sorted(FAULT_KINDS_SPEC))}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"fault count must be a positive integer, not {count!r}")
        defaults = FAULT_KINDS_SPEC[kind].defaults
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

    @property
    def delay(self) -> float:
        """Seconds to wait before answering normally (``delay`` faults), else 0."""
        return float(self.options["seconds"]) if self.kind == "delay" else 0.0

    def render(self, ctx: FaultContext) -> Answer | None:
        """The answer this fault gives instead of the normal one; ``None``: answer normally."""
        return FAULT_KINDS_SPEC[self.kind].render(self.options, ctx)


class FaultQueue:
    """Queued faults, taken in the order added (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Queue ``fault``."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """The first fault matching ``path``, its count used once; ``None`` if none."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults still queued (a copy)."""
        with self._lock:
            return list(self._faults)
