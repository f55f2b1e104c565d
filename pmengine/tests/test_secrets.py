"""The signing key comes from exactly one place and never shows itself.

Secrets Manager and SSM Parameter Store are moto in server mode on a loopback port, reached by
the real boto3 client through ``PMENGINE_AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import structlog
from moto.server import ThreadedMotoServer
from pmengine.errors import ConfigError
from pmengine.secrets import (
    DEFAULT_AWS_REGION,
    AwsSettings,
    KeySettings,
    KeySource,
    load_private_key,
)
from pmtrader.config import Secret

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # boto3 reads its credential chain itself; keep it away from any real profile.
    for name, value in _FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def canary() -> str:
    """A fresh key per test, so a leak cannot hide behind a value seen elsewhere."""
    return "0x" + secrets.token_hex(32)


def _unique(name: str) -> str:
    return f"pmt/test/{name}-{secrets.token_hex(4)}"


def _put_secret(moto_url: str, value: str, *, region: str = DEFAULT_AWS_REGION) -> str:
    name = _unique("engine-key")
    client = boto3.client("secretsmanager", region_name=region, endpoint_url=moto_url)
    client.create_secret(Name=name, SecretString=value)
    return name


def _put_parameter(moto_url: str, value: str, *, kind: str = "SecureString") -> str:
    name = "/" + _unique("engine-key")
    client = boto3.client("ssm", region_name=DEFAULT_AWS_REGION, endpoint_url=moto_url)
    client.put_parameter(Name=name, Value=value, Type=kind)  # type: ignore[arg-type]  # kind is one of the ParameterType literals, kept a str to parametrize
    return name


def _assert_hidden(value: str, *texts: str) -> None:
    bare = value.removeprefix("0x")
    for text in texts:
        assert bare not in text


# --- where the key comes from -------------------------------------------------------------


def test_secrets_manager_plain_string_is_the_key(moto_url: str, canary: str) -> None:
    secret_id = _put_secret(moto_url, canary)
    settings = KeySettings.from_env(
        {"PMENGINE_SECRET_ID": secret_id, "PMENGINE_AWS_ENDPOINT_URL": moto_url}
    )

    key = load_private_key(settings)

    assert settings.source is KeySource.SECRETS_MANAGER
    assert isinstance(key, Secret)
    assert key.reveal() == canary


def test_secrets_manager_json_secret_reads_the_named_field(moto_url: str, canary: str) -> None:
    default_id = _put_secret(moto_url, json.dumps({"private_key": canary, "note": "engine"}))
    custom_id = _put_secret(moto_url, json.dumps({"signer": canary.removeprefix("0x")}))

    default = load_private_key(
        KeySettings.from_env(
            {"PMENGINE_SECRET_ID": default_id, "PMENGINE_AWS_ENDPOINT_URL": moto_url}
        )
    )
    custom = load_private_key(
        KeySettings.from_env(
            {
                "PMENGINE_SECRET_ID": custom_id,
                "PMENGINE_SECRET_FIELD": "signer",
                "PMENGINE_AWS_ENDPOINT_URL": moto_url,
            }
        )
    )

    assert default is not None
    assert default.reveal() == canary
    assert custom is not None
    assert custom.reveal() == canary, "a key stored without 0x comes back 0x-prefixed"


def test_ssm_secure_string_is_read_with_decryption(moto_url: str, canary: str) -> None:
    name = _put_parameter(moto_url, canary)

    key = load_private_key(
        KeySettings.from_env(
            {"PMENGINE_SSM_PARAMETER": name, "PMENGINE_AWS_ENDPOINT_URL": moto_url}
        )
    )

    assert key is not None
    assert key.reveal() == canary


def test_ssm_plain_string_parameter_is_refused(moto_url: str, canary: str) -> None:
    name = _put_parameter(moto_url, canary, kind="String")
    settings = KeySettings.from_env(
        {"PMENGINE_SSM_PARAMETER": name, "PMENGINE_AWS_ENDPOINT_URL": moto_url}
    )

    with pytest.raises(ConfigError, match="not a SecureString") as info:
        load_private_key(settings)

    _assert_hidden(canary, str(info.value), repr(info.value))


def test_environment_key_in_documented_order(canary: str) -> None:
    other = "0x" + secrets.token_hex(32)

    settings = KeySettings.from_env({"PRIVATE_KEY": other, "PM_PRIVATE_KEY": canary})
    key = load_private_key(settings)

    assert settings.source is KeySource.ENVIRONMENT
    assert settings.env_name == "PM_PRIVATE_KEY"
    assert key is not None
    assert key.reveal() == canary


def test_no_source_means_no_key() -> None:
    settings = KeySettings.from_env({"PMENGINE_CLOB_URL": "https://clob.polymarket.com/"})

    assert settings.source is None
    assert load_private_key(settings) is None


def test_two_sources_are_an_error_not_a_guess(canary: str) -> None:
    with pytest.raises(ConfigError, match="exactly one place") as info:
        KeySettings.from_env({"PMENGINE_SECRET_ID": "pmt/engine", "PMENGINE_PRIVATE_KEY": canary})
    assert "PMENGINE_SECRET_ID" in str(info.value)
    assert "PMENGINE_PRIVATE_KEY" in str(info.value)
    _assert_hidden(canary, str(info.value))

    with pytest.raises(ConfigError, match="exactly one place"):
        KeySettings.from_env({"PMENGINE_SECRET_ID": "a", "PMENGINE_SSM_PARAMETER": "/b"})


@pytest.mark.parametrize("store_var", ["PMENGINE_SECRET_ID", "PMENGINE_SSM_PARAMETER"])
def test_the_engine_refuses_to_start_with_a_key_in_the_environment_and_in_aws(
    moto_url: str, canary: str, tmp_path: Path, store_var: str
) -> None:
    # Both sources really exist and hold (different) keys: nothing is left to chance but the
    # precedence the engine refuses to guess. The real CLI, at DEBUG, must say which two
    # variables clash, exit 2 without a traceback, and never print either key.
    stored = "0x" + secrets.token_hex(32)
    where = (
        _put_secret(moto_url, stored)
        if store_var == "PMENGINE_SECRET_ID"
        else _put_parameter(moto_url, stored)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMENGINE_", "PM_"))}
    env.pop("PRIVATE_KEY", None)
    env.update(
        PMENGINE_PRIVATE_KEY=canary,
        PMENGINE_AWS_ENDPOINT_URL=moto_url,
        PMENGINE_LOG_LEVEL="debug",
        **{store_var: where},
    )
    engine = [sys.executable, "-c", "from pmengine.cli import main; main()"]
    state = tmp_path / "state"
    done = subprocess.run(
        [*engine, "--env", "sim", "--markets", "some-market", "--state-dir", str(state)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "PMENGINE_PRIVATE_KEY" in done.stderr
    assert store_var in done.stderr
    assert "set only one" in done.stderr
    assert "Traceback" not in done.stderr
    _assert_hidden(canary, done.stdout, done.stderr)
    _assert_hidden(stored, done.stdout, done.stderr)
    assert not state.exists(), "nothing was started or written"


# --- region and endpoint ------------------------------------------------------------------


def test_region_defaults_to_eu_west_1_and_honours_aws_variables() -> None:
    assert AwsSettings.from_env({}).region == "eu-west-1"
    assert AwsSettings.from_env({"AWS_DEFAULT_REGION": "us-east-2"}).region == "us-east-2"
    both = {"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "us-east-2"}
    assert AwsSettings.from_env(both).region == "eu-central-1"
    with pytest.raises(ConfigError, match="AWS_REGION"):
        AwsSettings.from_env({"AWS_REGION": "ireland"})
    with pytest.raises(ConfigError, match="PMENGINE_AWS_ENDPOINT_URL"):
        AwsSettings.from_env({"PMENGINE_AWS_ENDPOINT_URL": "localhost:4566"})


def test_secret_is_looked_up_in_the_configured_region(moto_url: str, canary: str) -> None:
    secret_id = _put_secret(moto_url, canary, region="us-east-2")
    env = {"PMENGINE_SECRET_ID": secret_id, "PMENGINE_AWS_ENDPOINT_URL": moto_url}

    key = load_private_key(KeySettings.from_env({**env, "AWS_REGION": "us-east-2"}))
    assert key is not None
    assert key.reveal() == canary

    with pytest.raises(ConfigError, match="ResourceNotFoundException") as info:
        load_private_key(KeySettings.from_env(env))
    assert "eu-west-1" in str(info.value)
    assert secret_id in str(info.value)


# --- the key never shows itself -----------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param("{CANARY", id="broken-json"),
        pytest.param('{"other_field": "CANARY"}', id="json-without-field"),
        pytest.param("CANARYzz", id="not-hex"),
        pytest.param("CANARY-trailing", id="too-long"),
    ],
)
def test_malformed_secret_errors_never_quote_it(moto_url: str, canary: str, stored: str) -> None:
    secret_id = _put_secret(moto_url, stored.replace("CANARY", canary))
    settings = KeySettings.from_env(
        {"PMENGINE_SECRET_ID": secret_id, "PMENGINE_AWS_ENDPOINT_URL": moto_url}
    )

    with pytest.raises(ConfigError) as info:
        load_private_key(settings)

    assert secret_id in str(info.value), "the error says which secret to fix"
    rendered = "".join(traceback.format_exception(info.value))
    _assert_hidden(canary, str(info.value), repr(info.value), rendered)


def test_malformed_environment_key_error_never_quotes_it(canary: str) -> None:
    with pytest.raises(ConfigError, match="PMENGINE_PRIVATE_KEY") as info:
        KeySettings.from_env({"PMENGINE_PRIVATE_KEY": canary + "0"})
    _assert_hidden(canary, str(info.value), repr(info.value))


def test_key_is_masked_in_repr_str_and_settings(canary: str) -> None:
    settings = KeySettings.from_env({"PMENGINE_PRIVATE_KEY": canary})
    key = load_private_key(settings)

    assert key is not None
    _assert_hidden(canary, repr(key), str(key), f"{key}", repr(settings), str(settings))


def test_debug_logging_everywhere_never_shows_the_key(
    moto_url: str, canary: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # botocore at DEBUG prints whole response bodies; the loader must hold it back.
    secret_id = _put_secret(moto_url, canary)
    parameter = _put_parameter(moto_url, canary)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("botocore").setLevel(logging.DEBUG)

    with structlog.testing.capture_logs() as events:
        for env in (
            {"PMENGINE_SECRET_ID": secret_id},
            {"PMENGINE_SSM_PARAMETER": parameter},
            {"PMENGINE_PRIVATE_KEY": canary},
        ):
            load_private_key(KeySettings.from_env({**env, "PMENGINE_AWS_ENDPOINT_URL": moto_url}))

    assert [event["event"] for event in events] == ["secrets.key_loaded"] * 3
    assert [event["source"] for event in events] == ["secretsmanager", "ssm", "environment"]
    assert logging.getLogger("botocore").level == logging.DEBUG, "the level is restored"
    captured = capsys.readouterr()
    _assert_hidden(canary, caplog.text, repr(events), captured.out, captured.err)


_CHILD = textwrap.dedent(
    """
    import logging, os, sys, time
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    from pmengine.secrets import KeySettings, load_private_key
    key = load_private_key(KeySettings.from_env(os.environ))
    assert key is not None and key.reveal().startswith("0x")
    logging.getLogger("botocore").debug("botocore-debug-still-on")
    print("loaded", flush=True)
    time.sleep(60)
    """
)


def test_key_never_appears_in_process_listing_or_logs(moto_url: str, canary: str) -> None:
    secret_id = _put_secret(moto_url, canary)
    env = {
        **os.environ,
        "PMENGINE_SECRET_ID": secret_id,
        "PMENGINE_AWS_ENDPOINT_URL": moto_url,
    }
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        before: list[str] = []
        for line in child.stdout:  # structlog prints its event line to stdout first
            if line.strip() == "loaded":
                break
            before.append(line)
        else:
            pytest.fail(f"the loader exited early: {before}")
        listing = subprocess.run(
            ["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True, check=True
        ).stdout
        with_env = subprocess.run(
            ["ps", "eww", "-p", str(child.pid)], capture_output=True, text=True, check=True
        ).stdout
        proc = Path(f"/proc/{child.pid}")
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        environ = (proc / "environ").read_bytes().decode(errors="replace")
        assert str(child.pid) in listing, "the listing does show the loader process"
        _assert_hidden(canary, listing, with_env, cmdline, environ)
    finally:
        child.terminate()
        out, err = child.communicate(timeout=10)
    _assert_hidden(canary, *before)
    assert "secrets.key_loaded" in "".join(before) + out + err
    assert "botocore-debug-still-on" in err, "the child really logged botocore at DEBUG"
    _assert_hidden(canary, out, err)
