"""``python -m django_wxpay_media``: developer commands.

``demo``
    Serve the complaint desk (the Django admin with this app and its
    complaints app) on a local WeChat Pay sandbox that seeds complaints and
    notifies the site: ``python -m django_wxpay_media demo [--dir DIR] [--port 8000]
    [--host 127.0.0.1] [--sandbox-port 0] [--no-input]``. See
    :mod:`django_wxpay_media.demo.runner`.

The WeChat Pay sandbox alone is ``python -m django_wxpay_media.sandbox``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

PROG = "python -m django_wxpay_media"


class _Parser(argparse.ArgumentParser):
    """Prints the whole help, not only the usage line, with a usage error (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_help(sys.stderr)
        self.exit(2, f"\n{self.prog}: error: {message}\n")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535; 0 picks a free one)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Developer commands of django-wxpay-media.",
        epilog="The WeChat Pay sandbox on its own: python -m django_wxpay_media.sandbox --help",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo = commands.add_parser(
        "demo",
        help="serve the complaint desk in the admin on a local WeChat Pay sandbox",
        description=(
            "Serve the complaint desk (the Django admin with django_wxpay_media and django_wxpay_media.complaints) "
            "on a local WeChat Pay sandbox. Makes a SQLite database and the user 'admin' with a new random "
            "password in a folder; the sandbox seeds a few complaints with the consumers' pictures and notifies "
            "the site about them. Prints how to log in and what to try, and serves until Ctrl-C."
        ),
    )
    demo.add_argument(
        "--dir",
        type=Path,
        help="folder for the database, uploaded images and sandbox keys; created if missing and kept on exit "
        "(default: a new temporary folder, removed on exit)",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    demo.add_argument("--port", type=_port, default=8000, help="port to serve on (default: 8000; 0 picks a free one)")
    demo.add_argument(
        "--sandbox-port", type=_port, default=0, help="port of the WeChat Pay sandbox (default: 0, any free port)"
    )
    demo.add_argument(
        "--no-input", action="store_true", help="never ask anything (for scripts); an existing --dir is used as is"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from .demo.runner import Options, run

    return run(
        Options(
            dir=args.dir,
            host=args.host,
            port=args.port,
            sandbox_port=args.sandbox_port,
            no_input=args.no_input,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
