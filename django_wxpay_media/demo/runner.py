"""``python -m django_wxpay_media demo``: the complaint desk on a local WeChat Pay sandbox, in one process.

:func:`run` makes (or reuses) a folder, starts the sandbox with fresh throwaway
keys written into it (the APIv3 key included), migrates a SQLite database there,
creates the user ``admin`` with a new random password (and ``agent``, who sees one
of the two shops: :mod:`.staff`), and serves the site with
Django's threaded WSGI server (the one ``runserver`` uses, without the
autoreloader, so there is no second process). Once it serves, the sandbox seeds a
few complaints and notifies the site about them through its real notification
view (:mod:`django_wxpay_media.demo.desk`). Ctrl-C or SIGTERM stops the server
and the sandbox; a temporary folder is removed.

Everything runs in this process: the server and the sandbox are threads, so
stopping the process leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

#: The settings module of the demo site; it reads the folder named by DIR_VARIABLE.
SETTINGS_MODULE = "django_wxpay_media.demo.settings"
#: The environment variable naming the demo's folder.
DIR_VARIABLE = "WXPAY_DEMO_DIR"
#: The file in that folder holding SECRET_KEY and WXPAY_MEDIA (read by the settings).
STATE_FILE = "demo.json"

#: The demo's superuser.
USERNAME = "admin"

#: Files the runner writes in the folder; a folder holding them is a demo folder.
DATABASE_FILE = "db.sqlite3"
KEYS_DIR = "keys"
MEDIA_DIR = "media"


@dataclass(frozen=True)
class Options:
    """What the command line asked for (see :mod:`django_wxpay_media.__main__`)."""

    dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    sandbox_port: int = 0
    no_input: bool = False


class DemoError(Exception):
    """A problem the user can fix (port taken, folder unusable…); the message says how."""


class _Stop(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM: unwind, stop everything, exit 0."""


class _Signals:
    """SIGINT and SIGTERM stop the demo: :meth:`arm` makes them raise :class:`_Stop` in
    the main thread, :meth:`quiet` ignores them while cleaning up (a second Ctrl-C must
    not interrupt the cleanup half-way), :meth:`restore` puts the old handlers back.

    Outside the main thread (the runner embedded in something else) signals are left alone.
    """

    WANTED = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._active = threading.current_thread() is threading.main_thread()
        self._previous: dict[signal.Signals, Any] = {}

    @staticmethod
    def _raise_stop(signum: int, frame: Any) -> None:
        raise _Stop(signum)

    def arm(self) -> None:
        if self._active:
            for signum in self.WANTED:
                self._previous[signum] = signal.signal(signum, self._raise_stop)

    def quiet(self) -> None:
        if self._active:
            for signum in self.WANTED:
                signal.signal(signum, signal.SIG_IGN)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def _url_host(host: str) -> str:
    """The host to show in a URL: a wildcard address is reachable at loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _is_demo_folder(folder: Path) -> bool:
    return (folder / STATE_FILE).exists()


def _prepare_folder(options: Options, out: TextIO) -> tuple[Path, bool]:
    """The folder to use and whether it is temporary (to remove on exit)."""
    if options.dir is None:
        return Path(tempfile.mkdtemp(prefix="wxpay-demo-")).resolve(), True
    folder = options.dir.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise DemoError(f"{folder} exists and is not a folder. Choose another --dir.")
    if folder.is_dir() and any(folder.iterdir()) and not _is_demo_folder(folder):
        question = (
            f"{folder} is not empty and was not made by this demo. The demo adds {DATABASE_FILE}, "
            f"{KEYS_DIR}/, {MEDIA_DIR}/ and {STATE_FILE} to it (nothing is deleted)."
        )
        if options.no_input or not sys.stdin.isatty():
            print(question, file=out, flush=True)
        else:
            answer = input(f"{question} Use it? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                raise DemoError("Stopped; nothing was written. Choose an empty or new folder with --dir.")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"Cannot create {folder}: {exc.strerror or exc}. Choose another --dir.") from exc
    return folder, False


def _bind_web_server(options: Options) -> Any:
    """Bind the listening socket first, so that a taken port is reported before any work."""
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    try:
        return ThreadedWSGIServer((options.host, options.port), WSGIRequestHandler, ipv6=":" in options.host)
    except OSError as exc:
        hint = f" Choose another with --port, e.g. --port {options.port + 1}." if options.port else ""
        raise DemoError(f"Cannot listen on {options.host}:{options.port}: {exc.strerror or exc}.{hint}") from exc


def _start_sandbox(options: Options, err: TextIO) -> Any:
    from ..sandbox import Sandbox
    from ..sandbox.__main__ import log_line

    def log(record: Any) -> None:
        print(f"[sandbox] {log_line(record)}", file=err, flush=True)

    sandbox = Sandbox(mode="public_key", host="127.0.0.1", port=options.sandbox_port, on_request=log)
    try:
        return sandbox.start()
    except OSError as exc:
        hint = " Choose another with --sandbox-port, or 0 for any free port." if options.sandbox_port else ""
        raise DemoError(
            f"Cannot start the sandbox on port {options.sandbox_port}: {exc.strerror or exc}.{hint}"
        ) from exc


def _write_state(folder: Path, sandbox: Any) -> None:
    """``demo.json`` for demo/settings.py: the secret key (kept across runs) and WXPAY_MEDIA."""
    state_path = folder / STATE_FILE
    secret_key = None
    if state_path.exists():
        try:
            secret_key = json.loads(state_path.read_text(encoding="utf-8")).get("SECRET_KEY")
        except (OSError, ValueError):
            secret_key = None
    from .desk import SUB_MERCHANTS

    state = {
        "SECRET_KEY": secret_key or secrets.token_urlsafe(50),
        # PEM files in keys/, not PEM text: what a real deployment would do. The sandbox's
        # merchant is a service provider answering for the demo's two shops.
        "WXPAY_MEDIA": {
            **sandbox.settings(paths_dir=folder / KEYS_DIR),
            "SERVICE_PROVIDER": True,
            "SUB_MERCHANTS": list(SUB_MERCHANTS),
        },
    }
    state_path.write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    state_path.chmod(0o600)


def _setup_django(folder: Path) -> None:
    # This process is the demo: its settings win over a DJANGO_SETTINGS_MODULE in the shell.
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ[DIR_VARIABLE] = str(folder)
    import django

    django.setup()


def _django_is_set_up() -> bool:
    """Whether :func:`_setup_django` ran (an early failure leaves no connection to close)."""
    if "django.conf" not in sys.modules:
        return False
    from django.conf import settings

    return settings.configured


def _check_and_migrate() -> None:
    from django.core import checks
    from django.core.management import call_command

    problems = [message for message in checks.run_checks() if message.is_serious()]
    if problems:
        raise DemoError("The demo's settings do not pass Django's checks:\n" + "\n".join(str(p) for p in problems))
    call_command("migrate", interactive=False, verbosity=0)


def _admin_password() -> tuple[str, bool]:
    """A new random password for ``admin`` (created if missing); returns it and whether the user is new."""
    from django.contrib.auth import get_user_model

    password = secrets.token_urlsafe(12)
    user_model: Any = get_user_model()
    manager = user_model._default_manager
    user = manager.filter(**{str(user_model.USERNAME_FIELD): USERNAME}).first()
    if user is None:
        manager.create_superuser(USERNAME, "admin@example.com", password)
        return password, True
    user.set_password(password)
    user.is_active = user.is_staff = user.is_superuser = True
    user.save()
    return password, False


def _banner(
    options: Options,
    server: Any,
    sandbox: Any,
    folder: Path,
    temporary: bool,
    password: str,
    new: bool,
    desk: Any,
    agent: str = "",
) -> str:
    from .desk import SUB_MERCHANTS

    site = f"http://{_url_host(options.host)}:{server.server_address[1]}"
    where = "a temporary folder, removed when you stop" if temporary else "kept when you stop"
    who = "new user" if new else "its password was reset for this run"
    how = "registered with the sandbox" if desk.registered else "sent to directly; registering it failed"
    lines = [
        "",
        "django-wxpay-media demo is running: a WeChat Pay complaint desk.",
        "django-wxpay-media 演示已启动：微信支付投诉处理台。",
        "",
        f"  Admin:       {site}/admin/",
        f"  Username:    {USERNAME}  ({who})",
        f"  Password:    {password}",
        f"  Staff:       agent / {agent}  (sees only shop {SUB_MERCHANTS[0]}; admin sees both shops)",
        f"  工作人员：   agent / {agent}（只能看到商户 {SUB_MERCHANTS[0]}；admin 能看到两个商户）",
        f"  Complaints:  {site}/admin/wxpay_complaints/complaint/",
        f"  Sandbox:     {sandbox.base_url}  (a local stand-in for WeChat Pay, fresh keys)",
        f"  Notify URL:  {desk.notify_url}  ({how})",
        f"  Folder:      {folder}  ({where})",
        "",
        (
            f"  {len(desk.arrived)} of {len(desk.complaint_ids)} complaints arrived through the notification URL"
            " (signed and encrypted, as WeChat Pay sends them)."
        ),
        f"  已通过通知地址收到 {len(desk.arrived)}/{len(desk.complaint_ids)} 条投诉（与微信支付一样签名并加密）。",
    ]
    if desk.cleared:
        lines += [
            (
                f"  The {desk.cleared} complaints of the previous run were cleared (the sandbox starts empty each run);"
                " feedback images are kept."
            ),
            f"  上次运行的 {desk.cleared} 条投诉已清除（沙箱每次都从空开始），反馈图片仍保留。",
        ]
    lines += [
        "",
        "  Try it / 试一试:",
        "  1. Log in and open Complaints: the counts on top, what is due first, one overdue (red), one due",
        "     within the hour (amber), one that needs immediate service.",
        "     登录后打开“投诉”：顶部是各状态的数量，列表按截止时间排序：一条已超时（红色），一条一小时内到期（黄色），",
        "     一条需立即处理。",
        "  2. Filter “Overdue”, open the most urgent complaint, press “Assign to me”, read its clock and flags.",
        "     筛选“已超时”，打开最紧急的投诉，点击“分配给我”，查看计时和标记。",
        "  3. Reply, starting from a saved reply (or typing; up to 4 images): the counts change.",
        "     点击“回复”，从常用回复开始（或自己输入，最多 4 张图片），发送后顶部的数量随之变化。",
        "  4. Mark it complete and watch the state go from Pending to Processing to Processed.",
        "     点击“标记处理完成”，投诉状态依次变为：待处理 → 处理中 → 已处理完成。",
        "  A browser set to Chinese gets the admin in Simplified Chinese (zh-hans).",
        "  浏览器语言设为中文时，管理后台显示简体中文。",
        "",
        "Ctrl-C to stop. 按 Ctrl-C 停止。",
        "",
    ]
    return "\n".join(lines)


def _printable(text: str, stream: TextIO) -> str:
    """``text`` as ``stream`` can write it: the Chinese lines escaped on an ASCII-only terminal."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return text.encode("ascii", "backslashreplace").decode("ascii")
    return text


def _notify_url(options: Options, server: Any) -> str:
    """The site's notification URL, as the sandbox (in this process) reaches it."""
    from django.urls import reverse

    return f"http://{_url_host(options.host)}:{server.server_address[1]}{reverse('wxpay_complaints:notify')}"


def run(options: Options, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the demo until SIGINT/SIGTERM; returns the exit status (0 when stopped by a signal)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    signals = _Signals()
    folder: Path | None = None
    temporary = False
    server: Any = None
    sandbox: Any = None
    serve_thread: threading.Thread | None = None
    status = 0
    try:
        signals.arm()
        # Ports first: a taken port is reported before anything is written.
        server = _bind_web_server(options)
        sandbox = _start_sandbox(options, err)
        folder, temporary = _prepare_folder(options, out)
        print(f"Folder: {folder}", file=out, flush=True)
        _write_state(folder, sandbox)
        print("Setting up the database...", file=out, flush=True)
        _setup_django(folder)
        _check_and_migrate()
        password, new = _admin_password()
        from .staff import agent_password

        agent = agent_password()

        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.wsgi import get_wsgi_application

        server.set_app(StaticFilesHandler(get_wsgi_application()))
        serve_thread = threading.Thread(target=server.serve_forever, name="wxpay-demo-http", daemon=True)
        serve_thread.start()
        print("Seeding complaints in the sandbox and notifying the site...", file=out, flush=True)
        from .desk import open_desk

        desk = open_desk(sandbox, _notify_url(options, server))
        for problem in desk.problems:
            print(f"Warning: {problem}", file=err, flush=True)
        banner = _banner(options, server, sandbox, folder, temporary, password, new, desk, agent)
        print(_printable(banner, out), file=out, flush=True)
        while serve_thread.is_alive():
            serve_thread.join(0.5)
        status = 1  # the server stopped by itself: something broke (its thread logged why)
    except _Stop:
        signals.quiet()
        print("\nStopping...", file=out, flush=True)
    except DemoError as exc:
        signals.quiet()
        print(f"Error: {exc}", file=err, flush=True)
        status = 1
    finally:
        signals.quiet()
        if server is not None:
            if serve_thread is not None and serve_thread.is_alive():
                server.shutdown()
            server.server_close()
        if sandbox is not None:
            sandbox.stop()
        if _django_is_set_up():
            from django.db import connections

            connections.close_all()
        if temporary and folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"Removed {folder}.", file=out, flush=True)
        signals.restore()
    if status == 0:
        print("Stopped.", file=out, flush=True)
    return status
