"""``python -m django_wxpay_media demo``, run as a user runs it: a real process, real sockets.

The demo is a complaint desk: its sandbox seeds complaints and notifies the site;
these tests answer one over HTTP as staff do, and ask the sandbox (as a second
WeChat Pay client with the demo's keys) what it now holds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests

from django_wxpay_media.wechatpay import WeChatPayClient
from django_wxpay_media.wechatpay import complaints as wc

from .images import jpeg_bytes, png_bytes

ROOT = Path(__file__).resolve().parent.parent
#: How long a start or a stop may take before the test calls it hung (not a timing assertion).
PATIENCE = 60
BANNER_END = "Ctrl-C to stop."
FEEDBACK_IMAGES = "/admin/django_wxpay_media/feedbackimage/"
COMPLAINTS = "/admin/wxpay_complaints/complaint/"
NOTIFIED = '"POST /wxpay/complaints/notify/ HTTP/1.1" 204'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc; no psutil)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone while we looked
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == pid:
            found.append(int(stat.parent.name))
    return found


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Demo:
    """One ``python -m django_wxpay_media demo`` process and what its banner said."""

    def __init__(self, *args: str, tmp_path: Path) -> None:
        self.stderr_path = tmp_path / f"demo-stderr-{id(self)}.txt"
        env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "django_wxpay_media", "demo", "--no-input", *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                encoding="utf-8",
            )
        self.lines: list[str] = []
        self._banner = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.strip().startswith(BANNER_END):
                self._banner.set()
        self._banner.set()  # the process ended: stop waiting

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_banner(self) -> None:
        self._banner.wait(PATIENCE)
        ended = any(line.startswith(BANNER_END) for line in self.lines)
        assert ended, f"no banner; stdout:\n{self.output}\nstderr:\n{self.stderr()}"

    def banner_value(self, label: str) -> str:
        for line in self.lines:
            if line.strip().startswith(f"{label}:"):
                return line.split(":", 1)[1].split()[0]
        raise AssertionError(f"{label!r} not in the banner:\n{self.output}")

    @property
    def admin_url(self) -> str:
        return self.banner_value("Admin")

    @property
    def base_url(self) -> str:
        parts = urlsplit(self.admin_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def password(self) -> str:
        return self.banner_value("Password")

    @property
    def folder(self) -> Path:
        return Path(self.banner_value("Folder"))

    @property
    def sandbox_port(self) -> int:
        port = urlsplit(self.banner_value("Sandbox")).port
        assert port is not None
        return port

    def login(self) -> requests.Session:
        session = requests.Session()
        page = session.get(f"{self.base_url}/admin/login/", timeout=PATIENCE)
        assert page.status_code == 200
        response = session.post(
            f"{self.base_url}/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": csrf_token(page.text),
                "username": "admin",
                "password": self.password,
                "next": "/admin/",
            },
            timeout=PATIENCE,
        )
        assert response.status_code == 200 and response.url == f"{self.base_url}/admin/", response.text[:2000]
        assert "Log out" in response.text
        return session

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        status = self.process.wait(PATIENCE)
        self._reader.join(PATIENCE)
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(PATIENCE)


@pytest.fixture
def start_demo(tmp_path):
    started: list[Demo] = []

    def start(*args: str) -> Demo:
        demo = Demo(*args, tmp_path=tmp_path)
        started.append(demo)
        demo.wait_for_banner()
        return demo

    yield start
    for demo in started:  # a failed test must not leave a server running
        demo.kill()


def upload_png(session: requests.Session, demo: Demo, name: str, data: bytes) -> requests.Response:
    add_url = f"{demo.base_url}{FEEDBACK_IMAGES}add/"
    form = session.get(add_url, timeout=PATIENCE)
    assert form.status_code == 200
    return session.post(
        add_url,
        data={"csrfmiddlewaretoken": csrf_token(form.text), "_save": "Save"},
        files={"upload": (name, data, "image/png")},
        timeout=PATIENCE,
    )


def sandbox_client(folder: Path) -> WeChatPayClient:
    """A second WeChat Pay client with the demo's keys: asks the demo's sandbox what it holds."""
    options = json.loads((folder / "demo.json").read_text(encoding="utf-8"))["WXPAY_MEDIA"]
    return WeChatPayClient(
        mchid=options["MCHID"],
        merchant_serial_no=options["MERCHANT_SERIAL_NO"],
        private_key=Path(options["PRIVATE_KEY_PATH"]).read_bytes(),
        public_key=Path(options["WECHATPAY_PUBLIC_KEY_PATH"]).read_bytes(),
        public_key_id=options["WECHATPAY_PUBLIC_KEY_ID"],
        base_url=options["API_BASE_URL"],
    )


def query(folder: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(folder / "db.sqlite3") as db:
        return db.execute(sql, params).fetchall()


def readonly_value(html: str, field: str) -> str:
    """The text the admin shows for a read-only field of the change page."""
    match = re.search(rf'<div class="[^"]*field-{field}\b.*?<div class="readonly">(.*?)</div>', html, re.DOTALL)
    assert match, f"no read-only {field} on the page"
    return match.group(1).strip()


def post_form(session: requests.Session, url: str, data: dict, **kwargs: object) -> requests.Response:
    """GET the form at ``url`` for its CSRF token (and a desk form's one-time token), then POST ``data`` to it."""
    form = session.get(url, timeout=PATIENCE)
    assert form.status_code == 200, form.text[:2000]
    tokens = dict(re.findall(r'name="(csrfmiddlewaretoken|wxpay_form_token)" value="([^"]+)"', form.text))
    return session.post(url, data={**tokens, **data}, timeout=PATIENCE, **kwargs)


def test_complaints_arrive_and_staff_answer_one_with_two_images_and_complete_it(start_demo, tmp_path):
    folder = tmp_path / "site"
    demo = start_demo("--port", str(free_port()), "--dir", str(folder))

    # The seeded complaints came in through the site's notification view, one notification each.
    assert "5 of 5 complaints arrived through the notification URL" in demo.output
    assert "已通过通知地址收到 5/5 条投诉" in demo.output
    notify_url = demo.banner_value("Notify URL")
    assert notify_url == f"{demo.base_url}/wxpay/complaints/notify/"
    assert "POST /v3/merchant-service/complaint-notifications 200" in demo.stderr()  # registered
    # The server logs a request after answering it: the last line may follow the banner.
    logged = threading.Event()
    for _ in range(int(PATIENCE / 0.05)):
        if demo.stderr().count(NOTIFIED) >= 6:
            logged.set()
            break
        logged.wait(0.05)
    assert demo.stderr().count(NOTIFIED) == 6  # five complaints, and one consumer who wrote again
    stored = {
        cid: (state, kind)
        for cid, state, kind in query(
            folder, "SELECT complaint_id, state, problem_type FROM wxpay_complaints_complaint"
        )
    }
    notified = [row[0] for row in query(folder, "SELECT complaint_id FROM wxpay_complaints_notification")]
    assert sorted(set(notified)) == sorted(stored) and len(stored) == 5 and len(notified) == 6
    assert sorted(state for state, _ in stored.values()) == ["PENDING", "PENDING", "PENDING", "PROCESSED", "PROCESSING"]
    assert {kind for _, kind in stored.values()} == {"REFUND", "SERVICE_NOT_WORK", "OTHERS"}
    client = sandbox_client(folder)
    [(pk, complaint_id)] = query(
        folder,
        "SELECT id, complaint_id FROM wxpay_complaints_complaint WHERE state = 'PENDING' AND problem_type = 'REFUND'",
    )
    assert wc.get_complaint(client, complaint_id).complaint_state == "PENDING"

    session = demo.login()
    assert demo.banner_value("Complaints") == f"{demo.base_url}{COMPLAINTS}"
    changelist = session.get(demo.banner_value("Complaints"), timeout=PATIENCE)
    for cid in stored:
        assert cid in changelist.text
    change_url = f"{demo.base_url}{COMPLAINTS}{pk}/change/"
    page = session.get(change_url, timeout=PATIENCE)
    assert readonly_value(page.text, "state") == "Pending"
    # The consumer's two pictures, downloaded from the sandbox when the page asks for them.
    pictures = re.findall(r'<img src="(/admin/wxpay_complaints/complaint/image/\d+/)"', page.text)
    assert len(pictures) == 2
    for picture in pictures:
        answer = session.get(f"{demo.base_url}{picture}", timeout=PATIENCE)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("image/")
        assert answer.content[:3] in (b"\x89PN", b"\xff\xd8\xff")

    replied = post_form(
        session,
        f"{demo.base_url}{COMPLAINTS}{pk}/reply/",
        {"content": "您好，已为您安排退款，快递单与退款凭证见附图。"},
        files=[
            ("images", ("快递单.png", png_bytes(11), "image/png")),
            ("images", ("退款凭证.jpg", jpeg_bytes(12), "image/jpeg")),
        ],
    )

    assert replied.status_code == 200 and replied.url == change_url, replied.text[:3000]
    assert "The reply was sent to the consumer." in replied.text
    assert readonly_value(replied.text, "state") == "Processing"
    [(reply_pk, reply_state)] = query(folder, "SELECT id, state FROM wxpay_complaints_reply")
    assert reply_state == "sent"
    media_ids = [
        row[0]
        for row in query(
            folder,
            "SELECT i.media_id FROM django_wxpay_media_feedbackimage i "
            "JOIN wxpay_complaints_reply_images r ON r.feedbackimage_id = i.id WHERE r.reply_id = ? ORDER BY i.filename",
            reply_pk,
        )
    ]
    assert len(media_ids) == 2 and all(media_ids)
    log = demo.stderr()
    response_line = log.index(f"POST /v3/merchant-service/complaints-v2/{complaint_id}/response 204")
    assert log.count("POST /v3/merchant-service/images/upload 200") == 2
    assert log.rindex("POST /v3/merchant-service/images/upload 200") < response_line  # uploaded first, then sent

    completed = post_form(session, f"{demo.base_url}{COMPLAINTS}{pk}/complete/", {"confirm": "True"})

    assert completed.status_code == 200 and completed.url == change_url, completed.text[:3000]
    assert "The complaint was marked complete." in completed.text
    assert readonly_value(completed.text, "state") == "Processed"
    assert query(folder, "SELECT state FROM wxpay_complaints_complaint WHERE id = ?", pk) == [("PROCESSED",)]
    # WeChat Pay's side (the sandbox): processed, and the reply carried the two media_ids.
    assert wc.get_complaint(client, complaint_id).complaint_state == "PROCESSED"
    history = list(wc.iter_history(client, complaint_id))
    [response] = [entry for entry in history if entry.operate_type == "MERCHANT_RESPONSE"]
    assert response.operate_details == "您好，已为您安排退款，快递单与退款凭证见附图。"
    urls = [url for media in response.media for url in media.media_urls]
    assert sorted(url.rsplit("/", 1)[1] for url in urls) == sorted(quote(m, safe="") for m in media_ids)
    assert [entry.operate_type for entry in history][-1] == "MERCHANT_CONFIRM_COMPLETE"
    assert demo.stop(signal.SIGINT) == 0


def test_demo_serves_the_admin_on_the_sandbox_and_stops_on_ctrl_c(start_demo, tmp_path):
    folder = tmp_path / "site"
    port = free_port()
    demo = start_demo("--port", str(port), "--dir", str(folder))

    assert demo.admin_url == f"http://127.0.0.1:{port}/admin/"
    assert demo.folder == folder.resolve()
    assert (folder / "db.sqlite3").is_file()
    session = demo.login()

    response = upload_png(session, demo, "receipt.png", png_bytes(42))

    assert response.status_code == 200, response.text[:2000]
    match = re.search(r"Its media_id is (\S+?)\.?</", response.text)
    assert match, response.text[:3000]
    media_id = match.group(1)
    with sqlite3.connect(folder / "db.sqlite3") as db:
        rows = db.execute("SELECT filename, status, media_id, file FROM django_wxpay_media_feedbackimage").fetchall()
    assert [row[:3] for row in rows] == [("receipt.png", "uploaded", media_id)]
    assert (folder / "media" / rows[0][3]).read_bytes() == png_bytes(42)
    changelist = session.get(f"{demo.base_url}{FEEDBACK_IMAGES}", timeout=PATIENCE)
    assert media_id[:23] in changelist.text and "receipt.png" in changelist.text
    # Served by the admin from the (private) storage: the demo has no MEDIA_URL route.
    src = re.search(r'<img src="(/admin/django_wxpay_media/feedbackimage/\d+/file/)"', changelist.text).group(1)
    thumbnail = session.get(f"{demo.base_url}{src}", timeout=PATIENCE)
    assert thumbnail.content == png_bytes(42) and thumbnail.headers["Content-Type"] == "image/png"
    assert session.get(f"{demo.base_url}/media/{rows[0][3]}", timeout=PATIENCE).status_code == 404
    assert session.get(f"{demo.base_url}/static/admin/css/base.css", timeout=PATIENCE).status_code == 200
    assert "POST /v3/merchant-service/images/upload 200" in demo.stderr()  # the sandbox's log line
    assert children_of(demo.process.pid) == []  # one process: server and sandbox are threads

    status = demo.stop(signal.SIGINT)

    assert status == 0, demo.stderr()
    with pytest.raises(ChildProcessError):  # reaped: nothing of ours is left to wait for
        os.waitpid(demo.process.pid, os.WNOHANG)
    assert not is_listening(port)
    assert not is_listening(demo.sandbox_port)
    assert folder.is_dir() and (folder / "db.sqlite3").is_file()  # --dir is kept
    assert "Stopped." in demo.output


def test_reusing_the_folder_resets_the_password_and_keeps_the_images(start_demo, tmp_path):
    folder = tmp_path / "site"
    first = start_demo("--port", str(free_port()), "--dir", str(folder))
    session = first.login()
    assert upload_png(session, first, "kept.png", png_bytes(7)).status_code == 200
    before = {row[0] for row in query(folder, "SELECT complaint_id FROM wxpay_complaints_complaint")}
    assert first.stop(signal.SIGTERM) == 0

    second = start_demo("--port", str(free_port()), "--dir", str(folder))

    assert "password was reset" in second.output
    assert second.password != first.password
    # The new sandbox knows none of the old complaints: they are cleared, five new ones arrive.
    assert "The 5 complaints of the previous run were cleared" in second.output
    after = {row[0] for row in query(folder, "SELECT complaint_id FROM wxpay_complaints_complaint")}
    assert len(after) == 5 and not after & before
    assert len(query(folder, "SELECT id FROM wxpay_complaints_notification")) == 6
    changelist = second.login().get(f"{second.base_url}{FEEDBACK_IMAGES}", timeout=PATIENCE)
    assert "kept.png" in changelist.text
    assert second.stop(signal.SIGTERM) == 0


def test_temporary_folder_is_removed_on_sigterm(start_demo):
    port = free_port()
    demo = start_demo("--port", str(port))
    folder = demo.folder
    assert (folder / "db.sqlite3").is_file()
    assert "temporary folder" in demo.output

    assert demo.stop(signal.SIGTERM) == 0

    assert not folder.exists()
    assert not is_listening(port)


@pytest.mark.parametrize(
    ("module", "option", "hint"),
    [
        ("django_wxpay_media", "--port", "Choose another with --port"),
        ("django_wxpay_media", "--sandbox-port", "Choose another with --sandbox-port"),
        ("django_wxpay_media.sandbox", "--port", "Choose another with --port"),
    ],
)
def test_a_taken_port_is_one_line_exit_nonzero_and_nothing_left_behind(tmp_path, module, option, hint):
    temp = tmp_path / "temp"
    temp.mkdir()
    command = [sys.executable, "-m", module]
    if module == "django_wxpay_media":
        command += ["demo", "--no-input", "--port", "0"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*command, option, str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp)},
            check=False,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )

    assert result.returncode != 0
    [line] = result.stderr.splitlines()  # no traceback, no second message
    assert f":{port}: Address already in use." in line or f"port {port}: Address already in use." in line
    assert hint in line
    assert list(temp.iterdir()) == []  # no wxpay-demo-* or key folder left


def test_without_a_command_prints_usage_and_fails():
    result = subprocess.run(
        [sys.executable, "-m", "django_wxpay_media"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )

    assert result.returncode == 2
    assert "usage: python -m django_wxpay_media" in result.stderr
    assert "demo" in result.stderr


def test_bad_option_prints_help_and_exits_2():
    result = subprocess.run(
        [sys.executable, "-m", "django_wxpay_media", "demo", "--port", "99999"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )

    assert result.returncode == 2
    assert "--sandbox-port" in result.stderr  # the whole help, not only the usage line
    assert "99999 is not a port number" in result.stderr
