"""Fixtures shared by the protocol layer's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def real_images() -> dict[str, bytes]:
    """Every image a real encoder writes (tests/real_images.py), by name, each proven decodable."""
    from tests.real_images import build_real_images  # skips the test where Pillow is missing

    return build_real_images()
