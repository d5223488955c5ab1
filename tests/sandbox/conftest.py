"""Fixtures of the sandbox tests: the plugin's, plus a sandbox and a caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from django_wxpay_media.sandbox import Sandbox
from django_wxpay_media.sandbox import pytest_plugin as _plugin

from .apiv3 import Caller

# The plugin's fixtures, bound here so that this module works whether or not the
# package (and with it the pytest11 entry point) is installed.
wxpay_sandbox = _plugin.wxpay_sandbox
wxpay_sandbox_factory = _plugin.wxpay_sandbox_factory
wxpay_sandbox_keys = _plugin.wxpay_sandbox_keys


@pytest.fixture
def sandbox(wxpay_sandbox: Sandbox) -> Sandbox:
    return wxpay_sandbox


@pytest.fixture
def caller(sandbox: Sandbox) -> Iterator[Caller]:
    c = Caller(sandbox)
    yield c
    c.close()


@pytest.fixture
def make_caller() -> Iterator[Callable[[Sandbox], Caller]]:
    made: list[Caller] = []

    def make(sb: Sandbox) -> Caller:
        made.append(Caller(sb))
        return made[-1]

    yield make
    for c in made:
        c.close()
