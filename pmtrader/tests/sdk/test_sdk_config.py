"""Settings: read once from an environment mapping, secrets never shown."""

from __future__ import annotations

import logging
import pickle

import pytest
import structlog

from pmtrader import ApiCredentials, ConfigError, Secret, Settings, SignatureType

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXh5eno="
PASSPHRASE = "pass-phrase-canary-1234"


def test_defaults_are_production_without_credentials() -> None:
    settings = Settings.from_env({})
    assert settings.env == "prod"
    assert settings.clob_url == "https://clob.polymarket.com"
    assert settings.gamma_url == "https://gamma-api.polymarket.com"
    assert settings.data_url == "https://data-api.polymarket.com"
    assert settings.ws_url == "wss://ws-subscriptions-clob.polymarket.com/ws"
    assert settings.private_key is None
    assert settings.api_credentials is None
    assert settings.signature_type is SignatureType.EOA


def test_sim_env_derives_every_url_from_one() -> None:
    settings = Settings.from_env({"PMT_ENV": "sim", "PMT_SIM_URL": "http://127.0.0.1:9123/"})
    assert settings.env == "sim"
    assert settings.clob_url == "http://127.0.0.1:9123"
    assert settings.gamma_url == "http://127.0.0.1:9123/gamma"
    assert settings.data_url == "http://127.0.0.1:9123/data-api"
    assert settings.ws_url == "ws://127.0.0.1:9123/ws"
    assert settings.rpc_url == "http://127.0.0.1:9123/chain"


def test_sim_default_url() -> None:
    assert Settings.from_env({"PMT_ENV": "sim"}).clob_url == "http://127.0.0.1:8700"


def test_proxy_routes_rest_and_explicit_urls_win() -> None:
    settings = Settings.from_env(
        {"PMPROXY_URL": "http://127.0.0.1:8080", "PM_GAMMA_URL": "http://127.0.0.1:9/g"}
    )
    assert settings.clob_url == "http://127.0.0.1:8080/clob"
    assert settings.data_url == "http://127.0.0.1:8080/data"
    assert settings.rpc_url == "http://127.0.0.1:8080/chain"
    assert settings.gamma_url == "http://127.0.0.1:9/g"
    assert settings.proxy_url == "http://127.0.0.1:8080"


def test_credentials_and_key_are_read() -> None:
    settings = Settings.from_env(
        {
            "PM_PRIVATE_KEY": KEY[2:],
            "PM_FUNDER_ADDRESS": "0x" + "ab" * 20,
            "PM_SIGNATURE_TYPE": "2",
            "PM_API_KEY": "k",
            "PM_API_SECRET": SECRET,
            "PM_API_PASSPHRASE": PASSPHRASE,
        }
    )
    assert settings.private_key == Secret(KEY)
    assert settings.signature_type is SignatureType.POLY_GNOSIS_SAFE
    assert settings.api_credentials == ApiCredentials.from_strings("k", SECRET, PASSPHRASE)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PMT_ENV": "staging"}, "PMT_ENV"),
        ({"PM_SIGNATURE_TYPE": "4"}, "PM_SIGNATURE_TYPE"),
        ({"PM_SIGNATURE_TYPE": "safe"}, "PM_SIGNATURE_TYPE"),
        ({"PM_FUNDER_ADDRESS": "0x123"}, "PM_FUNDER_ADDRESS"),
        ({"PM_CLOB_URL": "clob.polymarket.com"}, "PM_CLOB_URL"),
        ({"PM_WS_URL": "http://x"}, "PM_WS_URL"),
        ({"PMPROXY_URL": "ftp://x"}, "PMPROXY_URL"),
        ({"PM_API_KEY": "k"}, "PM_API_SECRET"),
        ({"PM_CHAIN_ID": "1"}, "PM_CHAIN_ID"),
        ({"PMT_HTTP_TIMEOUT": "-3"}, "PMT_HTTP_TIMEOUT"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    bad = KEY[:-1] + "Z"
    with pytest.raises(ConfigError, match="PM_PRIVATE_KEY") as info:
        Settings.from_env({"PM_PRIVATE_KEY": bad})
    assert bad not in str(info.value)
    assert bad[10:40] not in str(info.value)


def test_secrets_never_appear_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env(
        {
            "PM_PRIVATE_KEY": KEY,
            "PM_API_KEY": "k",
            "PM_API_SECRET": SECRET,
            "PM_API_PASSPHRASE": PASSPHRASE,
        }
    )
    creds = settings.api_credentials
    assert creds is not None
    rendered = [
        repr(settings),
        str(settings),
        f"{settings}",
        repr(creds),
        str(creds),
        repr(settings.private_key),
        str(settings.private_key),
        f"{creds.secret} {creds.passphrase}",
    ]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("pmtrader.test").warning("settings %s creds %r", settings, creds)
        structlog.get_logger("pmtrader.test").warning("settings", settings=settings, creds=creds)
    rendered.append(caplog.text)
    for text in rendered:
        for secret in (KEY, KEY[2:], SECRET, PASSPHRASE):
            assert secret not in text
    assert creds.secret.reveal() == SECRET


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.clob_url = "http://elsewhere"  # type: ignore[misc]  # the point of the test


def test_secrets_refuse_to_be_pickled_so_no_cache_or_process_pool_writes_them_out() -> None:
    settings = Settings.from_env({"PM_PRIVATE_KEY": KEY})
    for value in (settings, settings.private_key):
        with pytest.raises(TypeError, match="cannot be pickled") as info:
            pickle.dumps(value)
        assert KEY not in str(info.value)
