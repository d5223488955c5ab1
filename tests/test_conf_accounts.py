"""Several merchant accounts in WXPAY_MEDIA: ACCOUNTS judged by the same checks, a client each (issue 17)."""

from __future__ import annotations

import hypothesis
import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_wxpay_media import conf

SHOP2 = "WXPAY_MEDIA['ACCOUNTS']['shop2']"


@pytest.fixture
def two_accounts(settings, wxpay_sandbox_factory):
    """The default account and ``shop2``, each with a sandbox (merchant) and keys of its own."""
    settings.DEBUG = True  # the sandboxes' loopback URLs are no warning (W001)
    first = wxpay_sandbox_factory()
    second = wxpay_sandbox_factory(mchid="1900000002")
    settings.WXPAY_MEDIA = {**first.settings(), "TIMEOUT": 7, "ACCOUNTS": {"shop2": second.settings()}}
    return settings, first, second


def ids(problems):
    return [p.id for p in problems]


def test_each_account_is_one_value_with_a_shared_client_of_its_own(two_accounts):
    settings, first, second = two_accounts
    assert conf.account_names() == ("default", "shop2")
    default, shop2 = conf.accounts()
    assert (default.name, default.mchid, default.setting) == ("default", first.mchid, "WXPAY_MEDIA")
    assert (shop2.name, shop2.mchid, shop2.setting) == ("shop2", "1900000002", SHOP2)
    assert conf.get_account("shop2") is shop2 and conf.get_account() is default
    assert shop2.timeout == 7.0  # not a key: inherited from the top level
    assert shop2.base_url == second.base_url  # its own, not the top level's
    client = conf.get_client("shop2")
    assert client is conf.get_client("shop2") is not conf.get_client()
    assert client.signer.mchid == "1900000002" and conf.get_client().signer.mchid == first.mchid
    with override_settings(WXPAY_MEDIA={**settings.WXPAY_MEDIA, "TIMEOUT": 3}):
        assert conf.get_client("shop2") is not client  # dropped on a setting change
        assert conf.get_account("shop2").timeout == 3.0


def test_an_unknown_account_names_the_known_ones(two_accounts):
    message = "'shop9' is not a merchant account of WXPAY_MEDIA; the accounts are 'default', 'shop2'."
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[")):
        conf.get_client("shop9")
    with pytest.raises(ImproperlyConfigured, match="'shop9' is not a merchant account"):
        conf.get_account("shop9")


def test_an_accounts_problems_keep_their_ids_and_name_the_account(two_accounts):
    settings, _, second = two_accounts
    broken = {k: v for k, v in second.settings().items() if k != "MCHID"}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "ACCOUNTS": {"shop2": {**broken, "TIMEOUT": -1, "MCHIDD": 1}}}
    problems = conf.configuration_problems()
    assert ids(problems) == ["E003", "E019", "E004"]
    assert problems[0].message.startswith(f"{SHOP2} has an unknown key 'MCHIDD'. Did you mean 'MCHID'?")
    assert problems[1].message == f"{SHOP2}['TIMEOUT'] must be a positive number of seconds, not -1."
    assert problems[2].message == f"{SHOP2}['MCHID'] is missing."
    # The system checks report them; the default account still works, shop2 raises its first error.
    assert [m.id for m in checks.run_checks(tags=["django_wxpay_media"])] == [
        "django_wxpay_media.E003",
        "django_wxpay_media.E019",
    ]
    assert conf.get_client().signer.mchid == "1900000001"
    with pytest.raises(ImproperlyConfigured, match=r"WXPAY_MEDIA\['ACCOUNTS'\]\['shop2'\]\['MCHIDD'\]"):
        conf.get_client("shop2")


@pytest.mark.parametrize(
    ("accounts", "code", "text"),
    [
        ({"default": {}}, "E042", "WXPAY_MEDIA['ACCOUNTS'] must be a dict of account names"),
        ({"shop 2": {}}, "E042", "WXPAY_MEDIA['ACCOUNTS'] must be a dict of account names"),
        ({"shop2": "1900000002"}, "E042", "WXPAY_MEDIA['ACCOUNTS'] must be a dict of account names"),
        ({"shop2": {"SERVICE_PROVIDER": "yes"}}, "E040", f"{SHOP2}['SERVICE_PROVIDER'] must be True or False"),
        ({"shop2": {"SUB_MERCHANTS": "1900000101"}}, "E041", f"{SHOP2}['SUB_MERCHANTS'] must be a list"),
        ({"shop2": {"SUB_MERCHANTS": ["1900000101"]}}, "E041", f"{SHOP2} is not a service provider account"),
    ],
)
def test_bad_accounts_are_reported(two_accounts, accounts, code, text):
    settings, _, second = two_accounts
    settings.WXPAY_MEDIA = {
        **settings.WXPAY_MEDIA,
        "ACCOUNTS": {k: {**second.settings(), **v} if isinstance(v, dict) else v for k, v in accounts.items()},
    }
    found = [p for p in conf.configuration_problems() if p.id == code]
    assert found and text in found[0].message


def test_one_mchid_in_two_accounts_is_an_error(two_accounts):
    settings, first, _ = two_accounts
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "ACCOUNTS": {"shop2": first.settings()}}
    [problem] = conf.configuration_problems()
    assert problem.id == "E043" and f"{SHOP2}['MCHID'] = '{first.mchid}' is also the MCHID of WXPAY_MEDIA" in str(
        problem
    )


def test_a_service_provider_and_the_sub_merchants_it_handles(two_accounts):
    settings, _, second = two_accounts
    provider = {**second.settings(), "SERVICE_PROVIDER": True, "SUB_MERCHANTS": ["1900000101", 1900000102]}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "ACCOUNTS": {"shop2": provider}}
    account = conf.get_account("shop2")
    assert account.service_provider and account.sub_merchants == {"1900000101", "1900000102"}
    assert account.handles("1900000102") and not account.handles("1900000199")
    default = conf.get_account()
    assert not default.service_provider and default.handles("1900000199")  # no SUB_MERCHANTS: every one listed


def test_account_key_text_is_kept_secret(two_accounts):
    _, _, second = two_accounts
    given = conf.user_settings()["ACCOUNTS"]["shop2"]
    assert type(given["PRIVATE_KEY"]).__name__ == "Secret"
    assert second.keys.merchant_private_key_pem not in repr(conf.get_account("shop2"))


def _accounts_setting():
    """A valid default account with ACCOUNTS of hostile names and entries (a valid base with changes)."""
    from hypothesis import strategies as st

    from tests.test_conf import _valid_bases, _values

    entry = st.one_of(
        st.builds(
            lambda base, changes: {**base, "MCHID": "1900000002", **changes},
            st.sampled_from(_valid_bases()),
            st.dictionaries(st.one_of(st.sampled_from(conf.ACCOUNT_KEYS), st.text(max_size=6)), _values(), max_size=2),
        ),
        _values(),
    )
    valid = st.sampled_from(["shop2", "a-b_3", "S3"])
    names = st.one_of(
        valid, valid, valid, st.sampled_from(["default", "", "shop 2", "商户"]), st.text(max_size=8), st.integers()
    )
    return st.builds(
        lambda base, accounts: {**base, "ACCOUNTS": accounts},
        st.sampled_from(_valid_bases()),
        st.dictionaries(names, entry, max_size=2),
    )


@hypothesis.settings(max_examples=60, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(options=_accounts_setting())
def test_every_accounts_client_is_built_exactly_when_the_checks_find_no_error_for_it(options):
    """An account's client is built iff no check reports an error of the setting or of that account;
    otherwise what is raised is one of the errors the checks report."""
    from django_wxpay_media.checks import check_deployment, check_settings

    with override_settings(DEBUG=True, WXPAY_MEDIA=options):
        reported = [m for m in check_settings(None) + check_deployment(None) if m.is_serious()]
        try:
            names = conf.account_names()
        except conf.ConfigurationProblem as exc:  # ACCOUNTS itself is wrong
            assert exc.problem.check_id in {m.id for m in reported}
            return
        built = []
        for name in names:
            where = "WXPAY_MEDIA" if name == "default" else f"WXPAY_MEDIA['ACCOUNTS'][{name!r}]"
            own = [m for m in reported if _about(m.id, m.msg, where, name)]
            try:
                conf.get_client(name)
            except conf.ConfigurationProblem as exc:
                assert exc.problem.message in {m.msg for m in reported}
            else:
                assert not own, own
                built.append(name)
        hypothesis.event(f"clients built: {len(built)} of {len(names)}")


def _about(message_id: str, message: str, where: str, name: str) -> bool:
    """Whether a check message is about account ``name`` (configured at ``where``) or the whole setting."""
    if message_id.endswith("E043"):  # one MCHID in two accounts: nothing can be told apart
        return True
    if "['ACCOUNTS'][" in message:  # another account's own problem, unless it is this one's
        return name != "default" and (f"{where}[" in message or f"{where} " in message)
    return True  # the default account's or the whole setting's: every account needs a sound setting
