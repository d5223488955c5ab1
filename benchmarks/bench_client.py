"""Client throughput against the local sandbox: prints figures and ratios.

    python benchmarks/bench_client.py [--images 60] [--concurrency 4]

Measures (a) the cost of signing one request, (b) uploads per second over one
keep-alive session versus a new connection per upload, and (c) serial versus
concurrent uploads (the CONCURRENCY setting), on loopback and with a simulated
server latency. Loopback only; nothing asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django_wxpay_media.sandbox import Sandbox, SandboxKeys
from django_wxpay_media.wechatpay import WeChatPayClient, meta_json, prepare_image
from tests.images import png_bytes


def make_client(sb: Sandbox) -> WeChatPayClient:
    s = sb.settings()
    return WeChatPayClient(
        mchid=s["MCHID"],
        merchant_serial_no=s["MERCHANT_SERIAL_NO"],
        private_key=s["PRIVATE_KEY"],
        public_key=s["WECHATPAY_PUBLIC_KEY"],
        public_key_id=s["WECHATPAY_PUBLIC_KEY_ID"],
        base_url=s["API_BASE_URL"],
    )


def timed(fn, images) -> float:
    start = time.perf_counter()
    fn(images)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency", type=float, default=50.0, help="simulated server latency in ms")
    args = parser.parse_args()

    with Sandbox(keys=SandboxKeys.shared()) as sb:
        client = make_client(sb)
        seed = iter(range(10**6))

        def batch():
            return [prepare_image(png_bytes(next(seed)), "bench.png") for _ in range(args.images)]

        meta = meta_json("bench.png", "0" * 64)
        runs = []
        for _ in range(200):
            t = time.perf_counter()
            client.signer.authorization("POST", "/v3/merchant-service/images/upload", meta)
            runs.append(time.perf_counter() - t)
        print(f"sign one request:        {statistics.median(runs) * 1000:7.2f} ms (median of 200)")

        client.upload_image(batch()[0])  # warm up the connection

        def serial(images):
            for image in images:
                client.upload_image(image)

        def fresh_connections(images):
            for image in images:
                client.session.close()  # drop pooled connections: each upload connects anew
                client.upload_image(image)

        def concurrent(images):
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(client.upload_image, images))

        n = args.images
        keep_alive = timed(serial, batch())
        fresh = timed(fresh_connections, batch())
        print(f"serial, keep-alive:        {n / keep_alive:7.1f} uploads/s")
        print(f"serial, new connection:    {n / fresh:7.1f} uploads/s  (keep-alive {fresh / keep_alive:.2f}x faster)")
        parallel = timed(concurrent, batch())
        print(
            f"concurrency {args.concurrency}, loopback:   {n / parallel:7.1f} uploads/s  ({keep_alive / parallel:.2f}x serial; "
            "2 cores shared with the sandbox)"
        )
        # WeChat Pay is tens of milliseconds away, not on loopback: add that wait.
        latency = args.latency / 1000
        sb.add_fault("delay", count=2 * n, seconds=latency)
        slow_serial = timed(serial, batch())
        slow_parallel = timed(concurrent, batch())
        print(
            f"with {args.latency:.0f} ms latency: serial {n / slow_serial:6.1f}/s, "
            f"concurrency {args.concurrency} {n / slow_parallel:6.1f}/s ({slow_serial / slow_parallel:.2f}x)"
        )
        print(f"sandbox accepted {len(sb.uploads)} uploads")


if __name__ == "__main__":
    main()
