"""A builder code from ``PM_BUILDER_CODE`` is signed into every order's ``builder`` field.

The byte-for-byte comparison with py-clob-client-v2's ``BuilderConfig`` is in
``test_sdk_golden.py``; here: how the setting is read and checked, and that the venue verifies
and accepts orders that carry one.
"""

from __future__ import annotations

import pytest
from pmtrader.signing import BYTES32_ZERO
from pmtrader.testing import SimServer

from pmtrader import ConfigError, OrderType, Settings

from .conftest import Catalogue, close_api, open_api, wallet_settings

CODE = "0x" + "0123456789abcdef" * 4


def test_the_builder_code_is_read_from_the_environment() -> None:
    assert Settings.from_env({"PM_BUILDER_CODE": CODE}).builder_code == CODE
    assert Settings.from_env({"PM_BUILDER_CODE": f" {CODE} "}).builder_code == CODE
    upper = "0x" + CODE[2:].upper()
    assert Settings.from_env({"PM_BUILDER_CODE": upper}).builder_code == upper  # signed as given
    assert Settings.from_env({}).builder_code is None
    assert Settings.from_env({"PM_BUILDER_CODE": ""}).builder_code is None
    # Zero is "no builder" in the signed order; the setting says so too.
    assert Settings.from_env({"PM_BUILDER_CODE": BYTES32_ZERO}).builder_code is None
    assert f"builder_code={CODE!r}" in repr(Settings.from_env({"PM_BUILDER_CODE": CODE}))


@pytest.mark.parametrize(
    "bad",
    [
        CODE[2:],  # no 0x
        CODE[:-2],  # 31 bytes
        CODE + "00",  # 33 bytes
        "0x" + "g" * 64,  # not hex
        "0x1234",  # an address-like short value
    ],
)
def test_a_malformed_builder_code_is_a_config_error_naming_the_variable(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"PM_BUILDER_CODE must be 0x followed by 64 hex"):
        Settings.from_env({"PM_BUILDER_CODE": bad})
    with pytest.raises(ConfigError, match="PM_BUILDER_CODE"):
        Settings(builder_code=bad)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_orders_with_a_builder_code_are_verified_and_accepted_by_the_venue(
    quiet_sim: SimServer, catalogue: Catalogue, flavour: str
) -> None:
    token = catalogue.first(skip=6).tokens[0].token_id
    api = open_api(wallet_settings(quiet_sim, builder_code=CODE), flavour)
    try:
        api(lambda c: c.account.create_or_derive_api_key())
        order = api(lambda c: c.orders.create_order(token, "BUY", price="0.1", size=10))
        assert order.builder_code == CODE
        assert order.payload("key", OrderType.GTC)["order"]["builder"] == CODE
        posted = api(lambda c: c.orders.post_order(order))
        assert posted.status == "live"
        assert api(lambda c: c.orders.get_order(order.order_hash)).id == order.order_hash
    finally:
        close_api(api)
