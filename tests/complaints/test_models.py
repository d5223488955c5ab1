"""What the desk's records say about themselves (``str()``): a reply's title."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media.complaints.models import Reply, title


def test_an_english_reply_is_cut_between_words():
    reply = Reply(content="We have refunded your order in full, please check your bank account tomorrow.")

    assert str(reply) == "We have refunded your order…"


def test_a_chinese_reply_is_cut_between_characters():
    text = "您好，您的订单已经全额退款，请于明天查看银行账户，如有疑问请联系客服。"

    assert title(text) == text[:29] + "…"  # 30 characters, no space needed


def test_a_short_reply_is_whole_and_on_one_line():
    assert title("Refunded.\nThanks!") == "Refunded. Thanks!"


@given(st.text(alphabet=st.sampled_from("ab 中文,\n"), max_size=80), st.integers(min_value=4, max_value=40))
def test_a_title_is_short_a_prefix_and_never_ends_mid_word(text, limit):
    words = " ".join(text.split())
    shown = title(text, limit)

    assert len(shown) <= limit
    if len(words) <= limit:
        assert shown == words
    else:
        assert shown.endswith("…")
        kept = shown[:-1]
        assert words.startswith(kept)
        rest = words[len(kept) :]
        if " " in words[: limit - 1][limit // 2 :]:  # a space to cut at: never inside a word
            assert rest[:1] in (" ", ",")
