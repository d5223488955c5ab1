"""Child process of the benchmark: peak memory of ``wxpay_upload`` over many 2 MiB images.

Reads ``{"settings": WXPAY_MEDIA, "paths": [...], "warmup": path, "database": kind}`` as JSON on
stdin and prints ``{"peak": bytes, "rss_growth": bytes, "uploaded": n}``: the
peak traced by :mod:`tracemalloc` above the baseline after one warm-up upload
(imports, client, connection and database made), and how much the peak RSS grew.
"""

from __future__ import annotations

import io
import json
import resource
import shutil
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any


def main() -> None:
    job = json.loads(sys.stdin.read())
    workdir = Path(tempfile.mkdtemp(prefix="wxpay-bench-memory-"))
    from benchmarks import django_env

    try:
        django_env.configure(workdir, job["settings"], job["database"])
        try:
            result = _measure(job)
        finally:
            django_env.drop_databases()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result))


def _measure(job: dict[str, Any]) -> dict[str, int]:
    from django.core.management import call_command

    from django_wxpay_media.models import FeedbackImage

    out = io.StringIO()
    call_command("wxpay_upload", job["warmup"], stdout=out, stderr=sys.stderr)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    call_command("wxpay_upload", *job["paths"], stdout=out, stderr=sys.stderr)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    uploaded = FeedbackImage.objects.filter(status="uploaded").count() - 1  # minus the warm-up
    return {"peak": peak - base, "rss_growth": rss_after - rss_before, "uploaded": uploaded}


if __name__ == "__main__":
    main()
