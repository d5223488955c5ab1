"""The sandbox in a process of its own, steered through a pipe.

In the benchmark's own process the sandbox would share the GIL and the memory
figures with the code being measured; in a child it costs what WeChat Pay's
server costs the client: wall time, nothing else.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from typing import Any


def _serve(conn: Connection) -> None:
    from django_wxpay_media.sandbox import Sandbox, SandboxKeys

    with Sandbox(keys=SandboxKeys.generate()) as sandbox:
        conn.send(sandbox.settings())
        while True:
            command, kwargs = conn.recv()
            if command == "stop":
                break
            try:
                if command == "fault":
                    sandbox.add_fault(**kwargs)
                    conn.send(None)
                elif command == "reset":
                    sandbox.reset()
                    conn.send(None)
                elif command == "uploads":
                    conn.send(len(sandbox.uploads))
                elif command == "seed":  # complaints without images, as many as asked: their ids
                    ids = [sandbox.seed_complaint(images=0)["complaint_id"] for _ in range(kwargs["count"])]
                    conn.send(ids)
                elif command == "notifications":  # signed (headers, body) of a notification per id
                    conn.send([sandbox.notification(cid) for cid in kwargs["complaint_ids"]])
                elif command == "consumer_writes":
                    sandbox.consumer_writes(kwargs["complaint_id"])
                    conn.send(None)
                elif command == "forget_complaints":
                    sandbox.forget_complaints()
                    conn.send(None)
                elif command == "clear_faults":
                    sandbox.clear_faults()
                    conn.send(None)
                elif command == "paths":  # the path of every request since the last reset
                    conn.send([request.path for request in sandbox.requests])
                else:
                    conn.send(ValueError(f"unknown command {command!r}"))
            except Exception as exc:  # noqa: BLE001 - sent back to the parent, raised there
                conn.send(exc)


class SandboxProcess:
    """``with SandboxProcess() as sb:`` — ``sb.settings`` is a ``WXPAY_MEDIA`` dict."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="wxpay-bench-sandbox", daemon=True)
        self._process.start()
        child.close()
        self.settings: dict[str, Any] = self._conn.recv()

    def _call(self, command: str, **kwargs: Any) -> Any:
        self._conn.send((command, kwargs))
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def add_fault(self, kind: str, count: int = 1, **options: Any) -> None:
        """:meth:`Sandbox.add_fault` in the child."""
        self._call("fault", kind=kind, count=count, **options)

    def reset(self) -> None:
        """Forget requests, uploads (their bytes too) and queued faults."""
        self._call("reset")

    def upload_count(self) -> int:
        """How many uploads the sandbox accepted since the last reset."""
        return int(self._call("uploads"))

    def seed_complaints(self, count: int) -> list[str]:
        """Seed ``count`` complaints (no images) in the child; their ids."""
        return list(self._call("seed", count=count))

    def notifications(self, complaint_ids: list[str]) -> list[tuple[dict[str, str], bytes]]:
        """Signed ``(headers, body)`` of a new-complaint notification about each id, signed now."""
        return list(self._call("notifications", complaint_ids=complaint_ids))

    def consumer_writes(self, complaint_id: str) -> None:
        """:meth:`Sandbox.consumer_writes` in the child."""
        self._call("consumer_writes", complaint_id=complaint_id)

    def reset_complaints(self) -> None:
        """Forget every complaint in the child."""
        self._call("forget_complaints")

    def clear_faults(self) -> None:
        """Drop the queued faults in the child."""
        self._call("clear_faults")

    def request_paths(self) -> list[str]:
        """The path (with query) of every request since the last reset, in order."""
        return list(self._call("paths"))

    def stop(self) -> None:
        if self._process.is_alive():
            self._conn.send(("stop", {}))
            self._process.join(10)
        if self._process.is_alive():  # pragma: no cover - a hung child must not hang the benchmark
            self._process.kill()
            self._process.join()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
