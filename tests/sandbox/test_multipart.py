"""The multipart parser, property-based."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.sandbox.multipart import MultipartError, parse_multipart
from tests.helpers import fuzz

from .apiv3 import (
    BOUNDARY,
    multipart,
)

# --- the parser, property-based -----------------------------------------------------------------------

_names = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFFFF, blacklist_categories=("Cs",), blacklist_characters='"\\\x7f'
    ),
    min_size=1,
    max_size=60,
)


@fuzz(150)
@given(name=_names, data=st.binary(max_size=300), meta_text=st.text(max_size=80))
def test_multipart_round_trip(name: str, data: bytes, meta_text: str) -> None:
    meta = meta_text.encode("utf-8")
    body = multipart(meta, data, name.encode("utf-8"))
    if (b"\r\n--" + BOUNDARY.encode()) in (b"\r\n" + meta + b"\r\n" + data):
        return  # the boundary occurs in the content: no parser can help that
    meta_part, file_part = parse_multipart(body, BOUNDARY)
    assert (meta_part.name, meta_part.content, meta_part.filename) == ("meta", meta, None)
    assert (file_part.name, file_part.content, file_part.filename) == ("file", data, name)


@given(st.binary(max_size=200))
@fuzz(100)
def test_multipart_parser_never_crashes(body: bytes) -> None:
    with contextlib.suppress(MultipartError):
        parse_multipart(body, BOUNDARY)
