"""pytest fixtures for the WeChat Pay sandbox.

Registered as the ``django_wxpay_media_sandbox`` pytest11 entry point, so installing
the package makes these fixtures available; Django is not imported here.

* ``wxpay_sandbox``: a running :class:`Sandbox` in public key mode, new for each test.
* ``wxpay_sandbox_factory``: ``wxpay_sandbox_factory(mode="certificate", **kwargs)``
  starts more sandboxes (any mode); all are stopped after the test. Each merchant is
  a sandbox of its own: ``wxpay_sandbox_factory(mchid="1900000002")`` is another
  merchant, with keys of its own (``SandboxKeys.shared(mchid)``), which refuses
  requests signed for any other mchid and shows none of the others' complaints. A
  service provider is a sandbox whose complaints name sub-merchants
  (``seed_complaint(complainted_mchid=...)``).
* ``wxpay_sandbox_keys``: the :class:`SandboxKeys` the fixtures share for the whole
  session (generated once; RSA key generation is the slow part).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .keys import SandboxKeys
from .server import Sandbox


@pytest.fixture(scope="session")
def wxpay_sandbox_keys() -> SandboxKeys:
    """Throwaway keys shared by every sandbox fixture in the session."""
    return SandboxKeys.shared()


@pytest.fixture
def wxpay_sandbox(wxpay_sandbox_keys: SandboxKeys) -> Iterator[Sandbox]:
    """A running public-key-mode sandbox with nothing recorded; stopped after the test."""
    with Sandbox(mode="public_key", keys=wxpay_sandbox_keys) as sandbox:
        yield sandbox


@pytest.fixture
def wxpay_sandbox_factory(wxpay_sandbox_keys: SandboxKeys) -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes on demand: ``make(mode="both", mchid=..., keys=...)``.

    Keys default to the session's keys of that merchant: the shared ones for the
    default mchid, others (generated once per session) for another mchid.
    """
    started: list[Sandbox] = []

    def make(mode: str = "public_key", **kwargs: Any) -> Sandbox:
        mchid = kwargs.get("mchid")
        if "keys" not in kwargs:
            kwargs["keys"] = wxpay_sandbox_keys if mchid is None else SandboxKeys.shared(str(mchid))
        sandbox = Sandbox(mode=mode, **kwargs).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in reversed(started):
        sandbox.stop()
