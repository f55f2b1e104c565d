"""Settings: the issue's names, defaults and precedence; bad values name the variable."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest
from pmengine.config import CliOverrides, load_settings
from pmengine.errors import ConfigError
from pmtrader.config import Secret

KEY_A = "0x" + "a1" * 32
KEY_B = "0x" + "b2" * 32
KEY_C = "c3" * 32


def live(env: Mapping[str, str], **cli: object) -> object:
    return load_settings({"PMENGINE_PRIVATE_KEY": KEY_A, **env}, CliOverrides(**cli))  # type: ignore[arg-type]  # test helper forwards flags


def test_defaults() -> None:
    s = load_settings({}, CliOverrides(dry_run=True))
    assert s.dry_run
    assert s.private_key is None
    assert s.signature_type == 0
    assert s.clob_url == "https://clob.polymarket.com/"
    assert s.ws_url == "wss://ws-subscriptions-clob.polymarket.com/ws"
    assert s.market_ws_url == "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    assert s.max_position_size == Decimal(1000)
    assert s.max_total_exposure == Decimal(5000)
    assert s.tick_interval_ms == 1000
    assert s.log_level == "info"
    assert s.pmproxy_url is None
    assert s.rest_url == s.clob_url
    assert s.metrics_port is None
    assert s.state_dir == Path("pmengine-state")


def test_private_key_variables_are_checked_in_order() -> None:
    env = {"PMENGINE_PRIVATE_KEY": KEY_A, "PM_PRIVATE_KEY": KEY_B, "PRIVATE_KEY": KEY_C}
    assert load_settings(env).private_key == Secret(KEY_A)
    del env["PMENGINE_PRIVATE_KEY"]
    assert load_settings(env).private_key == Secret(KEY_B)
    del env["PM_PRIVATE_KEY"]
    assert load_settings(env).private_key == Secret("0x" + KEY_C)


def test_dry_run_never_loads_the_key_even_a_malformed_one() -> None:
    s = load_settings({"PMENGINE_PRIVATE_KEY": "not-a-key"}, CliOverrides(dry_run=True))
    assert s.private_key is None


def test_live_without_a_key_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match=r"PMENGINE_PRIVATE_KEY.*--dry-run"):
        load_settings({})


def test_signature_type_pm_variable_wins_over_pmengine() -> None:
    s = load_settings(
        {"PRIVATE_KEY": KEY_A, "PM_SIGNATURE_TYPE": "2", "PMENGINE_SIGNATURE_TYPE": "1"}
    )
    assert s.signature_type == 2
    s = load_settings({"PRIVATE_KEY": KEY_A, "PMENGINE_SIGNATURE_TYPE": "1"})
    assert s.signature_type == 1


def test_funder_pmengine_variable_wins() -> None:
    a, b = "0x" + "1" * 40, "0x" + "2" * 40
    s = load_settings({"PRIVATE_KEY": KEY_A, "PMENGINE_FUNDER_ADDRESS": a, "PM_FUNDER_ADDRESS": b})
    assert s.funder_address == a
    s = load_settings({"PRIVATE_KEY": KEY_A, "PM_FUNDER_ADDRESS": b})
    assert s.funder_address == b


def test_flags_override_the_environment() -> None:
    env = {"PMENGINE_STATE_DIR": "/from/env", "PMENGINE_METRICS_PORT": "9000"}
    s = load_settings(env, CliOverrides(dry_run=True))
    assert s.state_dir == Path("/from/env")
    assert s.metrics_port == 9000
    s = load_settings(env, CliOverrides(dry_run=True, state_dir="/from/flag", metrics_port=9100))
    assert s.state_dir == Path("/from/flag")
    assert s.metrics_port == 9100
    s = load_settings(
        {"PMENGINE_DRY_RUN": "false", "PRIVATE_KEY": KEY_A}, CliOverrides(dry_run=True)
    )
    assert s.dry_run


def test_pmproxy_routes_rest() -> None:
    s = load_settings({"PMPROXY_URL": "http://127.0.0.1:8080"}, CliOverrides(dry_run=True))
    assert s.rest_url == "http://127.0.0.1:8080/clob/"


def test_params_parse_and_later_pairs_win() -> None:
    s = load_settings({}, CliOverrides(dry_run=True, params=("edge=0.02", "size=5", "edge=0.03")))
    assert s.param_dict() == {"edge": "0.03", "size": "5"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PMENGINE_MAX_POSITION_SIZE": "lots"}, "PMENGINE_MAX_POSITION_SIZE must be a positive"),
        ({"PMENGINE_MAX_TOTAL_EXPOSURE": "-5"}, "PMENGINE_MAX_TOTAL_EXPOSURE must be a positive"),
        ({"PMENGINE_MAX_TOTAL_EXPOSURE": "0.0000001"}, "at most 6 decimal places"),
        ({"PMENGINE_TICK_INTERVAL_MS": "fast"}, "PMENGINE_TICK_INTERVAL_MS must be an integer"),
        ({"PMENGINE_TICK_INTERVAL_MS": "0"}, "PMENGINE_TICK_INTERVAL_MS must be an integer"),
        ({"PMENGINE_LOG_LEVEL": "loud"}, "PMENGINE_LOG_LEVEL must be one of debug"),
        ({"PMENGINE_CLOB_URL": "clob.example"}, "PMENGINE_CLOB_URL must be a URL"),
        ({"PMENGINE_WS_URL": "http://x:1/ws"}, "PMENGINE_WS_URL must be a URL starting with ws"),
        ({"PMPROXY_URL": "ftp://proxy"}, "PMPROXY_URL must be a URL"),
        ({"PM_SIGNATURE_TYPE": "7"}, "PM_SIGNATURE_TYPE must be an integer from 0 to 3"),
        ({"PMENGINE_FUNDER_ADDRESS": "0x12"}, "PMENGINE_FUNDER_ADDRESS must be a 0x-prefixed"),
        ({"PMENGINE_METRICS_PORT": "70000"}, "PMENGINE_METRICS_PORT must be an integer"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        live(env)


def test_a_malformed_key_is_named_but_never_echoed() -> None:
    canary = "0xCANARY" + "9" * 10
    with pytest.raises(ConfigError) as info:
        load_settings({"PM_PRIVATE_KEY": canary})
    assert "PM_PRIVATE_KEY must be a 32-byte hex private key" in str(info.value)
    assert canary not in str(info.value)


def test_bad_flags_are_named() -> None:
    with pytest.raises(ConfigError, match="--env must be one of prod, sim"):
        load_settings({}, CliOverrides(dry_run=True, env="moon"))
    with pytest.raises(ConfigError, match="--param must look like key=value"):
        load_settings({}, CliOverrides(dry_run=True, params=("oops",)))
    with pytest.raises(ConfigError, match="--metrics-port"):
        load_settings({}, CliOverrides(dry_run=True, metrics_port=-2))


def test_the_key_never_shows_in_repr_str_or_format() -> None:
    s = load_settings({"PMENGINE_PRIVATE_KEY": KEY_A})
    assert s.private_key is not None
    for text in (repr(s), str(s), f"{s.private_key}", repr(s.private_key), str(s.private_key)):
        assert KEY_A not in text
        assert KEY_A[2:] not in text
    assert s.private_key.reveal() == KEY_A


def test_the_settings_hold_the_toolkits_one_masked_secret_type() -> None:
    s = load_settings({"PMENGINE_PRIVATE_KEY": KEY_A})
    assert type(s.private_key) is Secret  # pmtrader.config.Secret, not a copy of it


def test_secret_store_is_asked_only_in_live_mode() -> None:
    asked: list[str] = []

    def loader(env: Mapping[str, str]) -> str | None:
        asked.append(env.get("PMENGINE_SECRET_ID") or env["PMENGINE_SSM_PARAMETER"])
        return KEY_B

    s = load_settings({"PMENGINE_SECRET_ID": "pm/key"}, key_loader=loader)
    assert s.private_key == Secret(KEY_B)
    s = load_settings({"PMENGINE_SSM_PARAMETER": "/pm/key"}, key_loader=loader)
    assert s.private_key == Secret(KEY_B)
    assert asked == ["pm/key", "/pm/key"]
    load_settings({"PMENGINE_SECRET_ID": "pm/key"}, CliOverrides(dry_run=True), key_loader=loader)
    assert asked == ["pm/key", "/pm/key"]


@pytest.mark.parametrize("key_var", ["PMENGINE_PRIVATE_KEY", "PM_PRIVATE_KEY", "PRIVATE_KEY"])
@pytest.mark.parametrize("store_var", ["PMENGINE_SECRET_ID", "PMENGINE_SSM_PARAMETER"])
def test_a_key_in_the_environment_and_a_secret_store_is_an_error_naming_both(
    key_var: str, store_var: str
) -> None:
    canary = "0x" + "c0ffee11" * 8
    asked: list[str] = []

    def loader(env: Mapping[str, str]) -> str | None:
        asked.append(env[store_var])
        return KEY_B

    with pytest.raises(ConfigError) as info:
        load_settings({key_var: canary, store_var: "pm/key"}, key_loader=loader)
    message = str(info.value)
    assert key_var in message
    assert store_var in message
    assert "set only one" in message
    assert asked == [], "the secret store is not even asked"
    for text in (message, repr(info.value)):
        assert canary not in text
        assert canary[2:] not in text


def test_both_secret_stores_at_once_is_an_error_too() -> None:
    env = {"PMENGINE_SECRET_ID": "pm/key", "PMENGINE_SSM_PARAMETER": "/pm/key"}
    with pytest.raises(ConfigError, match="PMENGINE_SECRET_ID and PMENGINE_SSM_PARAMETER are both"):
        load_settings(env, key_loader=lambda env: KEY_B)
    env["PM_PRIVATE_KEY"] = KEY_A
    with pytest.raises(ConfigError) as info:
        load_settings(env, key_loader=lambda env: KEY_B)
    assert str(info.value).startswith(
        "PM_PRIVATE_KEY, PMENGINE_SECRET_ID and PMENGINE_SSM_PARAMETER are all set"
    )
    assert str(info.value).endswith("unset the others")


def test_dry_run_ignores_every_key_source_even_conflicting_ones() -> None:
    env = {"PMENGINE_PRIVATE_KEY": KEY_A, "PMENGINE_SECRET_ID": "pm/key"}
    s = load_settings(env, CliOverrides(dry_run=True), key_loader=lambda env: KEY_B)
    assert s.private_key is None
