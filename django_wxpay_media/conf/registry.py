"""Every merchant account of the site: the default one (``WXPAY_MEDIA`` itself) and ``ACCOUNTS``.

Each account's dict is judged by the same rules (:func:`~.accounts.judge_account`),
its messages naming where it is configured
(``WXPAY_MEDIA['ACCOUNTS']['shop2']['MCHID']``), so check ids stay the same for
every account. An entry of ``ACCOUNTS`` sets :data:`~.schema.ACCOUNT_KEYS`; what it
leaves out of :data:`~.schema.INHERITED_KEYS` (the base URL, timeout and retries)
it takes from the top level, never a key or an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.views.decorators.debug import sensitive_variables

from .accounts import DEFAULT_ACCOUNT, judge_account
from .keys import _Keys
from .problems import Problem, _option_value_problems, _wrong
from .schema import (
    ACCOUNT_KEYS,
    DEFAULTS,
    INHERITED_KEYS,
    OPTION_RULES,
    SETTING_NAME,
    _given,
    option_problem,
    unknown_key_message,
    unknown_keys,
)


def account_setting(name: str) -> str:
    """Where account ``name`` is configured, as messages quote it."""
    return SETTING_NAME if name == DEFAULT_ACCOUNT else f"{SETTING_NAME}['ACCOUNTS'][{name!r}]"


@dataclass(frozen=True, repr=False)
class JudgedAccount:
    """One account as judged: its problems, its keys and its options merged for building it."""

    name: str
    problems: tuple[Problem, ...]
    keys: _Keys | None
    options: dict[str, Any]  # holds key text (in Secret): never shown

    def __repr__(self) -> str:
        return f"<JudgedAccount {self.name!r}>"


def named_entries(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``ACCOUNTS`` entries of ``options`` when their shape is right (E042 otherwise), else none."""
    accounts = options.get("ACCOUNTS")
    if accounts is None or option_problem("ACCOUNTS", accounts) is not None:
        return {}
    return dict(accounts)


@sensitive_variables()
def _judge_named(name: str, entry: dict[str, Any], top: dict[str, Any]) -> JudgedAccount:
    setting = account_setting(name)
    found = [
        _wrong("E003", unknown_key_message(key, setting, ACCOUNT_KEYS), f"Remove or rename {setting}[{key!r}].")
        for key in unknown_keys(entry, ACCOUNT_KEYS)
    ]
    own_options = {key: entry[key] for key in ACCOUNT_KEYS if key in OPTION_RULES and key in entry}
    found.extend(_option_value_problems(own_options, setting))
    # The key rules see only what the entry gives (an inherited URL was judged at the top).
    judged_problems, keys = judge_account({k: v for k, v in entry.items() if k in ACCOUNT_KEYS}, setting)
    found.extend(judged_problems)
    merged = {key: top.get(key, DEFAULTS[key]) for key in INHERITED_KEYS}
    merged.update({k: v for k, v in entry.items() if k in ACCOUNT_KEYS and v is not None})
    return JudgedAccount(name, tuple(found), keys, merged)


@sensitive_variables()
def judge_accounts(options: dict[str, Any]) -> tuple[list[Problem], dict[str, JudgedAccount]]:
    """Every account of ``options`` (``WXPAY_MEDIA`` as given) judged; problems about several (E043).

    The default account comes first; its problems are those of the flat setting.
    """
    default_problems, default_keys = judge_account(options)
    top = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    accounts = {DEFAULT_ACCOUNT: JudgedAccount(DEFAULT_ACCOUNT, tuple(default_problems), default_keys, top)}
    for name, entry in named_entries(options).items():
        accounts[name] = _judge_named(name, entry, top)
    shared: list[Problem] = []
    seen: dict[str, str] = {}
    for name, account in accounts.items():
        if account.options.get("SUB_MERCHANTS") is not None and account.options.get("SERVICE_PROVIDER") is not True:
            where = account_setting(name)
            shared.append(
                _wrong(
                    "E041",
                    f"{where}['SUB_MERCHANTS'] is set, but {where} is not a service provider account.",
                    f"Set {where}['SERVICE_PROVIDER'] = True (a 服务商 answering for sub-merchants), or remove SUB_MERCHANTS.",
                )
            )
        if not _given(account.options, "MCHID"):
            continue
        mchid = str(account.options["MCHID"])
        if mchid in seen:
            # Images and complaints are kept per mchid: two accounts for one would mix them up.
            shared.append(
                _wrong(
                    "E043",
                    f"{account_setting(name)}['MCHID'] = {mchid!r} is also the MCHID of {account_setting(seen[mchid])}.",
                    "Configure each merchant number once; a service provider lists its sub-merchants in SUB_MERCHANTS.",
                )
            )
        else:
            seen[mchid] = name
    return shared, accounts
