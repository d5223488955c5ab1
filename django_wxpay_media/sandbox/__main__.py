"""Run the sandbox from the command line.

``python -m django_wxpay_media.sandbox [--host 127.0.0.1] [--port 8765]
[--mode public_key|certificate|both] [--keys-dir DIR] [--reuse-keys] [--mchid N]
[--seed-complaints N] [--notify-url URL]``

Generates throwaway keys, writes them to ``--keys-dir`` (default: a new temporary
directory, removed on exit), prints a ready-to-paste ``WXPAY_MEDIA = {...}`` snippet
on stdout and serves until Ctrl-C or SIGTERM (exit status 0). One line per request
goes to stderr: method, path, status and WeChat error code — never key material.

``--seed-complaints N`` files N complaints as consumers would (pictures, ages,
problem types; :mod:`.seeding`); ``--notify-url URL`` then POSTs a signed, encrypted
notification about each to the site's notification view, as WeChat Pay does. The
site must already use this sandbox's settings: run once with ``--keys-dir DIR
--port P``, paste the settings, then run again with ``--reuse-keys`` and the same
port.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from .answers import MODES
from .keys import DEFAULT_MCHID, STATE_FILE, SandboxKeys
from .records import ReceivedRequest
from .seeding import notify_all, seed_complaints
from .server import Sandbox


def settings_snippet(settings: dict[str, Any]) -> str:
    """``WXPAY_MEDIA = {...}`` as Python source."""
    lines = ["WXPAY_MEDIA = {"]
    for key, value in settings.items():
        # JSON is Python for text, numbers and lists of them; True, False and None are spelt Python's way.
        text = repr(value) if value is None or isinstance(value, bool) else json.dumps(value, ensure_ascii=False)
        lines.append(f"    {json.dumps(key)}: {text},")
    lines.append("}")
    return "\n".join(lines)


def log_line(record: ReceivedRequest) -> str:
    """``METHOD PATH STATUS CODE [fault=KIND] [note="…"]`` for one request (no headers, no body)."""
    status = "-" if record.response_status is None else str(record.response_status)
    line = f"{record.method or '-'} {record.path or '-'} {status} {record.response_code or '-'}"
    if record.fault:
        line += f" fault={record.fault}"
    for note in record.notes:
        line += f" note={json.dumps(note, ensure_ascii=False)}"
    return line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m django_wxpay_media.sandbox",
        description="A local stand-in for WeChat Pay APIv3 (merchant-service/images/upload).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 picks a free one)")
    parser.add_argument("--mode", choices=MODES, default="public_key", help="which key signs answers")
    parser.add_argument("--mchid", default=DEFAULT_MCHID, help=f"merchant number (default: {DEFAULT_MCHID})")
    parser.add_argument(
        "--keys-dir",
        help="where to write the keys (default: a temporary directory removed on exit)",
    )
    parser.add_argument(
        "--reuse-keys",
        action="store_true",
        help=f"reuse the keys in --keys-dir ({STATE_FILE}) if present instead of generating fresh ones",
    )
    parser.add_argument(
        "--seed-complaints",
        type=int,
        default=0,
        metavar="N",
        help="file N complaints (with pictures, ages, problem types) once the sandbox listens",
    )
    parser.add_argument(
        "--sub-merchants",
        metavar="MCHID,MCHID",
        default="",
        help="be a service provider: seeded complaints are about these sub-merchants in turn",
    )
    parser.add_argument(
        "--notify-url",
        metavar="URL",
        help="POST a signed notification about each seeded complaint to URL (the site's notification view)",
    )
    return parser


def seed_and_notify(
    sandbox: Sandbox, count: int, notify_url: str | None, err: TextIO, sub_merchants: Sequence[str] = ()
) -> bool:
    """Seed ``count`` complaints (about ``sub_merchants`` in turn, if any), notify ``notify_url``
    about each; one line each on ``err``.

    Returns whether every notification was taken (2xx).
    """
    ids = seed_complaints(sandbox, count, sub_merchants=sub_merchants)
    complaints = sandbox.complaints
    for complaint_id in ids:
        detail = complaints[complaint_id]
        print(
            f"seeded complaint {complaint_id}: {detail['complaint_state']} {detail['problem_type']}, "
            f"filed {detail['complaint_time']}, merchant {detail['complainted_mchid']}",
            file=err,
            flush=True,
        )
    if not notify_url:
        return True
    deliveries = notify_all(sandbox, ids, notify_url)
    for delivery in deliveries:
        if delivery.ok:
            print(f"notified {notify_url} of complaint {delivery.complaint_id}: HTTP {delivery.status}", file=err)
        else:
            reason = f"HTTP {delivery.status}" if delivery.status is not None else delivery.error
            print(f"could not notify {notify_url} of complaint {delivery.complaint_id}: {reason}", file=err)
    err.flush()
    return all(delivery.ok for delivery in deliveries)


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Entry point; returns the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = _parser()
    args = parser.parse_args(argv)
    if args.seed_complaints < 0:
        parser.error("--seed-complaints must be 0 or more")
    if args.notify_url and not args.seed_complaints:
        parser.error("--notify-url needs --seed-complaints N (the complaints to notify about)")
    sub_merchants = [m.strip() for m in args.sub_merchants.split(",") if m.strip()]
    if not all(m.isdigit() for m in sub_merchants):
        parser.error("--sub-merchants takes merchant numbers separated by commas")

    temp_dir: str | None = None
    if args.keys_dir:
        keys_dir = Path(args.keys_dir)
    else:
        temp_dir = tempfile.mkdtemp(prefix="wxpay-sandbox-keys-")
        keys_dir = Path(temp_dir)

    def log(record: ReceivedRequest) -> None:
        print(log_line(record), file=err, flush=True)

    try:
        keys: SandboxKeys | None = None
        if args.reuse_keys and (keys_dir / STATE_FILE).exists():
            keys = SandboxKeys.load(keys_dir)
            print(f"reusing keys from {keys_dir}", file=err)
        if keys is None:
            keys = SandboxKeys.generate(args.mchid)
            keys.save(keys_dir)
        sandbox = Sandbox(mode=args.mode, host=args.host, port=args.port, keys=keys, mchid=args.mchid, on_request=log)
        try:
            sandbox.start()
        except OSError as error:
            hint = " Choose another with --port, or --port 0 for any free one." if args.port else ""
            print(f"Cannot listen on {args.host}:{args.port}: {error.strerror or error}.{hint}", file=err)
            return 2
        try:
            stop = threading.Event()

            def on_signal(signum: int, frame: FrameType | None) -> None:
                stop.set()

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, on_signal)
                signal.signal(signal.SIGTERM, on_signal)
            options = sandbox.settings(paths_dir=keys_dir)
            if sub_merchants:  # what the site's WXPAY_MEDIA needs to answer for them
                options.update(SERVICE_PROVIDER=True, SUB_MERCHANTS=sub_merchants)
            print(settings_snippet(options), file=out, flush=True)
            print(
                f"WeChat Pay sandbox ({args.mode} mode) listening on {sandbox.base_url}; keys in {keys_dir}. "
                "Ctrl-C to stop.",
                file=err,
                flush=True,
            )
            if args.seed_complaints:
                seed_and_notify(sandbox, args.seed_complaints, args.notify_url, err, sub_merchants)
            while not stop.wait(0.2):
                pass
        finally:
            sandbox.stop()
        print("sandbox stopped", file=err, flush=True)
        return 0
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
