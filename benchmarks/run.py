"""One run, one table: what an upload costs us next to the most used SDK, and the targets.

    python -m benchmarks            # about a minute; under 3 on 2 busy cores
    python -m benchmarks --quick    # smoke run, well under 30 s

Figures (issue 9), each with its ratio beside its target:

* crypto floor: sha256 of a 2 MiB image + one RSA-2048 sign + one verify, the least
  any client must do;
* wechatpayv3 (``pip install wechatpayv3``, or the ``bench`` extra): its bare
  ``complaint_image_upload`` of the same files, in the same run — the reference;
* ``WeChatPayClient.upload_bytes`` (file read included, as wechatpayv3 reads it);
* the whole ``services.upload_image`` (file stored, record written);
* database queries per upload through ``upload_image``;
* batches of small images with every answer 50 ms late, CONCURRENCY 4, through the
  admin action, ``upload_pending()`` and ``wxpay_upload``, against the ideal
  ``start-up + N × latency / CONCURRENCY`` (start-up: the same path for one image,
  no added latency);
* peak traced memory of ``wxpay_upload`` over many 2 MiB images, in a child
  process, against one image.

The sandbox runs in a child process (see ``sandbox_process``); the database is a
fresh SQLite file in WAL mode (see ``django_env``). Every file is uploaded by each contender in turn,
and a ratio is the median of ratios between uploads of the same file made moments
apart, so a noisy neighbour slows both sides of each pair alike. Nothing is asserted: this prints.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``python benchmarks/run.py`` works too
    sys.path.insert(0, str(ROOT))

from benchmarks import desk, django_env  # noqa: E402
from benchmarks.django_env import DATABASES  # noqa: E402
from benchmarks.images import FULL_SIZE, MIB, write_pngs  # noqa: E402
from benchmarks.sandbox_process import SandboxProcess  # noqa: E402

CONCURRENCY = 4
LATENCY = 0.050
BATCH_IMAGE_SIZE = 64 * 1024

# (label, key) of every row, in order; the smoke test checks each label is printed.
ROWS = [
    ("crypto floor (sha256 + sign + verify)", "floor"),
    ("wechatpayv3 complaint_image_upload", "wechatpayv3"),
    ("WeChatPayClient.upload_bytes", "client"),
    ("services.upload_image", "service"),
    ("queries per upload_image", "queries"),
    ("batch: admin action", "batch_admin"),
    ("batch: upload_pending()", "batch_pending"),
    ("batch: wxpay_upload", "batch_command"),
    ("peak memory: wxpay_upload", "memory"),
    *desk.ROWS,
]


@dataclass
class Sizes:
    files: int  # distinct 2 MiB files per round
    rounds: int
    batch: int  # images per batch
    memory_images: int

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        return cls(files=3, rounds=2, batch=16, memory_images=8) if quick else cls(12, 7, 200, 200)


@dataclass
class Row:
    label: str
    value: str
    ratio: str = ""
    target: str = ""
    met: bool | None = None  # None: a reference figure, no target
    cpu: str = ""  # per-upload rows: this process's CPU time and its ratio

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "n/a" if self.target.startswith("<=") else ""  # a target without its reference
        return "met" if self.met else "NOT MET"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# -- contenders --------------------------------------------------------------------------


def crypto_floor(data: bytes, repeats: int) -> float:
    """Median seconds for sha256(data) + one RSA-2048 PKCS#1 v1.5 sign + one verify."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    answer = b'1700000000\nNONCE\n{"media_id":"' + b"M" * 40 + b'"}\n'
    answer_signature = key.sign(answer, padding.PKCS1v15(), hashes.SHA256())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        digest = hashlib.sha256(data).hexdigest()
        message = (
            f'POST\n/v3/merchant-service/images/upload\n1700000000\nNONCE\n{{"filename":"a.png","sha256":"{digest}"}}\n'
        )
        key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
        public.verify(answer_signature, answer, padding.PKCS1v15(), hashes.SHA256())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wechatpayv3_uploader(settings: dict[str, Any]) -> tuple[Callable[[Path], None] | None, str]:
    """wechatpayv3's upload of a path against the sandbox, or ``None`` and why not."""
    try:
        from importlib import metadata

        from wechatpayv3 import WeChatPay, WeChatPayType
    except ImportError:
        return None, "not installed (pip install wechatpayv3)"
    version = metadata.version("wechatpayv3")
    pay = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=settings["MCHID"],
        private_key=settings["PRIVATE_KEY"],
        cert_serial_no=settings["MERCHANT_SERIAL_NO"],
        appid="wxbenchmark",
        apiv3_key="0" * 32,  # unused in public key mode, but required
        public_key=settings["WECHATPAY_PUBLIC_KEY"],
        public_key_id=settings["WECHATPAY_PUBLIC_KEY_ID"],
    )
    pay._core._gate_way = settings["API_BASE_URL"]  # no public option for the host

    def upload(path: Path) -> None:
        status, message = pay.complaint_image_upload(str(path))
        if status != 200:
            raise RuntimeError(f"wechatpayv3 upload refused: {status} {message}")

    return upload, version


def clear_records(media_root: Path) -> None:
    """Forget every record and stored file (between rounds; not timed)."""
    from django_wxpay_media.models import FeedbackImage

    FeedbackImage.objects.all().delete()
    shutil.rmtree(media_root / "wxpay_media", ignore_errors=True)


@dataclass
class PerUpload:
    """One contender's figures: median wall and CPU seconds, median paired ratios."""

    wall: float
    cpu: float
    wall_ratio: float | None
    cpu_ratio: float | None


def per_upload(
    files: list[Path],
    rounds: int,
    contenders: dict[str, Callable[[Path], None]],
    before_each: dict[str, Callable[[], None]],
    reference: str,
) -> dict[str, PerUpload]:
    """Wall time and this process's CPU time per upload, and their ratios to ``reference``.

    Each file is uploaded by every contender in turn (the order rotates each round),
    and each ratio pairs uploads of the same file made moments apart: on a shared
    machine the load changes from second to second, and pairs see the same load.
    CPU time is this process's only (the sandbox runs in another), so it is the
    client's own cost, whatever the load.
    """
    names = list(contenders)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall_ratios: dict[str, list[float]] = {name: [] for name in names}
    cpu_ratios: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        order = names[number % len(names) :] + names[: number % len(names)]
        for path in files:
            sample: dict[str, tuple[float, float]] = {}
            for name in order:
                before_each.get(name, lambda: None)()
                start, start_cpu = time.perf_counter(), time.process_time()
                contenders[name](path)
                sample[name] = (time.perf_counter() - start, time.process_time() - start_cpu)
                wall[name].append(sample[name][0])
                cpu[name].append(sample[name][1])
            if reference in sample:
                ref_wall, ref_cpu = sample[reference]
                for name in names:
                    wall_ratios[name].append(sample[name][0] / ref_wall)
                    cpu_ratios[name].append(sample[name][1] / ref_cpu if ref_cpu else float("nan"))

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    return {
        name: PerUpload(
            statistics.median(wall[name]),
            statistics.median(cpu[name]),
            median(wall_ratios[name]),
            median(cpu_ratios[name]),
        )
        for name in names
    }


# -- batches ---------------------------------------------------------------------------------


def create_pending(paths: list[Path]) -> list[Any]:
    """Pending records for ``paths`` (setup, as the admin's add view would leave them)."""
    from django.core.files.base import ContentFile

    from django_wxpay_media import conf
    from django_wxpay_media.models import FeedbackImage
    from django_wxpay_media.wechatpay import prepare_image

    records = []
    for path in paths:
        prepared = prepare_image(path.read_bytes(), path.name)
        image = FeedbackImage(
            filename=prepared.filename,
            sha256=prepared.sha256,
            size=prepared.size,
            content_type=prepared.content_type,
            mchid=conf.get_mchid(),
        )
        image.file.save(prepared.filename, ContentFile(prepared.data), save=False)
        image.save()
        records.append(image)
    return records


def batch_paths(admin_client: Any) -> dict[str, tuple[Callable[[list[Path]], Any], Callable[[Any], None]]]:
    """For each batch path: (setup(paths) -> state, run(state))."""
    from django.core.management import call_command

    from django_wxpay_media import services

    def admin_run(records: list[Any]) -> None:
        response = admin_client.post(
            "/admin/django_wxpay_media/feedbackimage/",
            {"action": "upload_selected", "index": "0", "_selected_action": [r.pk for r in records]},
        )
        if response.status_code != 302:
            raise RuntimeError(f"the admin action answered {response.status_code}")

    def pending_run(_records: list[Any]) -> None:
        services.upload_pending()

    def command_run(paths: list[Path]) -> None:
        call_command("wxpay_upload", *map(str, paths), stdout=io.StringIO(), stderr=io.StringIO())

    return {
        "batch_admin": (create_pending, admin_run),
        "batch_pending": (create_pending, pending_run),
        "batch_command": (lambda paths: paths, command_run),
    }


def time_batch(
    setup: Callable[[list[Path]], Any],
    run: Callable[[Any], None],
    paths: list[Path],
    sandbox: SandboxProcess,
    media_root: Path,
    latency: float,
) -> tuple[float, float]:
    """Wall and CPU seconds of ``run`` over ``paths``, every answer ``latency`` late; checks all were uploaded."""
    from django_wxpay_media.models import FeedbackImage

    clear_records(media_root)
    sandbox.reset()
    state = setup(paths)
    if latency:
        sandbox.add_fault("delay", count=len(paths), seconds=latency)
    start, start_cpu = time.perf_counter(), time.process_time()
    run(state)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    uploaded = FeedbackImage.objects.filter(status="uploaded").count()
    if uploaded != len(paths) or sandbox.upload_count() != len(paths):
        raise RuntimeError(f"{uploaded} of {len(paths)} records uploaded, {sandbox.upload_count()} requests accepted")
    return elapsed, cpu


# -- memory ---------------------------------------------------------------------------------


def measure_memory(settings: dict[str, Any], paths: list[Path], warmup: Path, database: str) -> dict[str, Any]:
    """Run :mod:`benchmarks.memory` in a child process; its JSON answer."""
    job = json.dumps(
        {"settings": settings, "paths": [str(p) for p in paths], "warmup": str(warmup), "database": database}
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory"],
        input=job,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the memory child failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the table ---------------------------------------------------------------------------------


def print_table(title: str, rows: list[Row], notes: list[str], out: Any = sys.stdout) -> None:
    label = max(len(r.label) for r in rows)
    target = max(12, *(len(r.target) for r in rows))
    header = (
        f"{'figure':<{label}}  {'value':>11}  {'ratio':>7}  {'target':<{target}}  {'verdict':<8}  "
        f"{'client CPU, ratio':>17}"
    )
    print(title, file=out)
    print(header, file=out)
    print("-" * len(header), file=out)
    for row in rows:
        print(
            f"{row.label:<{label}}  {row.value:>11}  {row.ratio:>7}  {row.target:<{target}}  {row.verdict:<8}  "
            f"{row.cpu:>17}".rstrip(),
            file=out,
        )
    for note in notes:
        print(note, file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run with few images (under 30 s)")
    parser.add_argument(
        "--db",
        choices=DATABASES,
        default="sqlite",
        help="a fresh SQLite file (default), or a database created on the local PostgreSQL or MariaDB server",
    )
    args = parser.parse_args(argv)
    sizes = Sizes.for_mode(args.quick)
    began = time.perf_counter()

    workdir = Path(tempfile.mkdtemp(prefix="wxpay-bench-"))
    notes: list[str] = []
    try:
        with SandboxProcess() as sandbox:
            return _run(sandbox, workdir, sizes, notes, began, quick=args.quick, database=args.db)
    finally:
        django_env.drop_databases()
        shutil.rmtree(workdir, ignore_errors=True)


def _run(
    sandbox: SandboxProcess, workdir: Path, sizes: Sizes, notes: list[str], began: float, *, quick: bool, database: str
) -> int:
    settings = {**sandbox.settings, "CONCURRENCY": CONCURRENCY}
    django_env.configure(workdir, settings, database)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from django_wxpay_media import conf, services

    media_root = workdir / "media"
    big = write_pngs(workdir / "big", sizes.files + 1, FULL_SIZE)
    warm, files = big[0], big[1:]
    results: dict[str, Row] = {}

    # Crypto floor.
    floor = crypto_floor(files[0].read_bytes(), repeats=20 if quick else 100)

    # Per upload: the same files, rounds interleaved.
    client = conf.get_client()
    contenders: dict[str, Callable[[Path], None]] = {}
    wechatpayv3, about = wechatpayv3_uploader(sandbox.settings)
    reference_name = f"wechatpayv3 {about}" if wechatpayv3 is not None else "wechatpayv3 (not installed)"
    if wechatpayv3 is not None:
        try:
            wechatpayv3(warm)
            contenders["wechatpayv3"] = wechatpayv3
        except RuntimeError as exc:
            notes.append(f"wechatpayv3 {about} could not upload to the sandbox: {exc}")
            about = "refused by the sandbox (see note)"
            wechatpayv3 = None

    def ours(path: Path) -> None:
        client.upload_bytes(path.read_bytes(), path.name)

    def service(path: Path) -> None:
        image = services.upload_image(path)
        if image.status != "uploaded":
            raise RuntimeError(f"upload_image left the record {image.status}")

    contenders["client"] = ours
    contenders["service"] = service
    ours(warm)
    service(warm)
    timed = per_upload(
        files, sizes.rounds, contenders, {"service": lambda: clear_records(media_root)}, reference="wechatpayv3"
    )
    reference = timed.get("wechatpayv3")

    def ratio(value: float | None) -> str:
        return f"{value:.2f}x" if value is not None else "n/a"

    def cpu(figures: PerUpload) -> str:
        return f"{_ms(figures.cpu)} {ratio(figures.cpu_ratio)}"

    results["floor"] = Row(
        "",
        _ms(floor),
        ratio(floor / reference.wall if reference else None),
        "reference",
        cpu=f"{_ms(floor)} {ratio(floor / reference.cpu if reference else None)}",
    )
    if reference is not None:
        results["wechatpayv3"] = Row("", _ms(reference.wall), "1.00x", "reference", cpu=cpu(reference))
    else:
        results["wechatpayv3"] = Row("", "n/a", "", about)
    for key, target in (("client", 0.7), ("service", 1.0)):
        figures = timed[key]
        met = figures.wall_ratio <= target if figures.wall_ratio is not None else None
        results[key] = Row("", _ms(figures.wall), ratio(figures.wall_ratio), f"<= {target:.2f}x", met, cpu=cpu(figures))

    # Queries per upload (a separate pass: counting is not free).
    clear_records(media_root)
    with CaptureQueriesContext(connection) as queries:
        for path in files:
            service(path)
    per = len(queries.captured_queries) / len(files)
    results["queries"] = Row("", f"{per:.1f}", f"{per / 3:.2f}x", "<= 3", per <= 3)
    kinds = Counter(query["sql"].split(None, 1)[0].upper() for query in queries.captured_queries)
    notes.append(
        f"queries per upload_image, as CaptureQueriesContext counts them ({database}): "
        + ", ".join(f"{kind} {count / len(files):g}" for kind, count in kinds.most_common())
    )

    # Batches.
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    admin_client = Client()
    admin_client.force_login(user)
    small = write_pngs(workdir / "small", sizes.batch, BATCH_IMAGE_SIZE, first_seed=10_000)
    single = write_pngs(workdir / "single", 3, BATCH_IMAGE_SIZE, first_seed=20_000)
    for key, (setup, run) in batch_paths(admin_client).items():
        startup = statistics.median(
            time_batch(setup, run, [path], sandbox, media_root, latency=0)[0] for path in single
        )
        elapsed, cpu_seconds = time_batch(setup, run, small, sandbox, media_root, latency=LATENCY)
        ideal = startup + len(small) * LATENCY / CONCURRENCY
        results[key] = Row(
            "",
            f"{elapsed:.2f} s",
            f"{elapsed / ideal:.2f}x",
            "<= 1.20x",
            elapsed / ideal <= 1.2,
            cpu=f"{_ms(cpu_seconds / len(small))}/image",
        )
    notes.append(
        f"batches: {len(small)} images of {BATCH_IMAGE_SIZE // 1024} KiB, every answer {LATENCY * 1000:.0f} ms late, "
        f"CONCURRENCY {CONCURRENCY}; ratio against start-up + N x latency / CONCURRENCY "
        f"= {len(small) * LATENCY / CONCURRENCY:.2f} s + start-up (the same path for one image, no added latency); "
        f"client CPU: this process's CPU time per image; at the ideal pace each worker has "
        f"{LATENCY * 1000:.0f} ms per image, all {CONCURRENCY} share this machine's cores and one GIL"
    )
    if database == "sqlite":
        notes.append("database: a SQLite file in WAL mode with synchronous=NORMAL (a commit is not an fsync)")
    clear_records(media_root)
    sandbox.reset()

    # Peak memory, in a child process.
    many = write_pngs(workdir / "many", sizes.memory_images, FULL_SIZE, first_seed=30_000)
    memory = measure_memory(settings, many, warm, database)
    sandbox.reset()
    if memory["uploaded"] != len(many):
        raise RuntimeError(f"the memory run uploaded {memory['uploaded']} of {len(many)} images")
    peak = memory["peak"] / MIB
    images = memory["peak"] / FULL_SIZE
    results["memory"] = Row("", f"{peak:.1f} MiB", f"{images:.2f}x", "<= 3.00x", images <= 3)
    notes.append(
        f"memory: {len(many)} images of 2 MiB through wxpay_upload (CONCURRENCY {CONCURRENCY}) in a child process; "
        f"peak traced by tracemalloc above the warmed-up baseline, ratio to one image; "
        f"peak RSS grew by {memory['rss_growth'] / MIB:.1f} MiB; each batch thread "
        f"(CONCURRENCY + 1) holds chunks of its image (256 KiB reads), not the image"
    )
    _desk(sandbox, results, notes, quick=quick, database=database)

    rows = []
    for label, key in ROWS:
        row = results[key]
        row.label = label
        rows.append(row)
    title = (
        f"django-wxpay-media benchmark ({'quick' if quick else 'full'} run): Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {reference_name}, database {database}, sandbox in a child process over loopback"
    )
    notes.insert(
        0,
        f"per upload: {len(files)} distinct 2 MiB PNG files x {sizes.rounds} rounds; value: median wall time; ratio: "
        "median of ratios to wechatpayv3's upload of the same file moments apart; client CPU: this process's "
        "CPU time (the sandbox runs in another), insensitive to the machine's load",
    )
    notes.append(f"whole run: {time.perf_counter() - began:.0f} s")
    print_table(title, rows, notes)
    return 0


def _desk(sandbox: SandboxProcess, results: dict[str, Row], notes: list[str], *, quick: bool, database: str) -> None:
    """The complaint desk's rows (see :mod:`benchmarks.desk`)."""

    def row(value: str, ratio: float | None, target: float | None, text: str = "") -> Row:
        met = None if ratio is None or target is None else ratio <= target
        return Row("", value, f"{ratio:.2f}x" if ratio is not None else "", text or f"<= {target:.2f}x", met)

    sizes = [200] if quick else [200, 2000]
    figures, more = desk.sync_rows(sandbox, row, sizes, LATENCY, CONCURRENCY)
    results.update(figures)
    notes.extend(more)
    for count in (200, 2000):
        for key in (f"sync_{count}", f"resync_{count}"):
            results.setdefault(key, Row("", "n/a", "", "full run only"))
    results["sync_memory"], results["sync_answers"], note = desk.memory_row(sandbox, row, 200 if quick else 2000)
    notes.append(note)
    if database == "postgres":
        figures, more = desk.list_rows(row, 10_000 if quick else 100_000)
        results.update(figures)
        notes.extend(more)
    else:
        for key in ("list", "change_page"):
            results[key] = Row("", "n/a", "", "--db postgres")
    sandbox.reset_complaints()
    sandbox.reset()


if __name__ == "__main__":
    sys.exit(main())
