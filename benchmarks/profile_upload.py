"""Where one upload's time goes: cProfile of the client and of ``services.upload_image``.

    python -m benchmarks.profile_upload [--uploads 30] [--top 20] [--sort tottime]

Same set-up as ``python -m benchmarks`` (2 MiB PNG files, the sandbox in a child
process, a fresh SQLite database); prints the top entries of each profile.
Waiting for the sandbox shows up as socket ``recv_into``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.images import FULL_SIZE, write_pngs  # noqa: E402
from benchmarks.run import CONCURRENCY, clear_records  # noqa: E402
from benchmarks.sandbox_process import SandboxProcess  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_upload", description=__doc__)
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative...)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="wxpay-profile-"))
    try:
        with SandboxProcess() as sandbox:
            from benchmarks import django_env

            django_env.configure(workdir, {**sandbox.settings, "CONCURRENCY": CONCURRENCY})
            from django_wxpay_media import conf, services

            files = write_pngs(workdir / "big", args.uploads + 1, FULL_SIZE)
            client = conf.get_client()
            client.upload_bytes(files[0].read_bytes(), files[0].name)  # warm: connection, imports
            services.upload_image(files[0])
            clear_records(workdir / "media")

            for title, run in (
                ("WeChatPayClient.upload_bytes", lambda p: client.upload_bytes(p.read_bytes(), p.name)),
                ("services.upload_image", services.upload_image),
            ):
                profile = cProfile.Profile()
                for path in files[1:]:
                    profile.enable()
                    run(path)
                    profile.disable()
                print(f"== {title}: {args.uploads} uploads of 2 MiB ==")
                stats = pstats.Stats(profile, stream=sys.stdout)
                stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
