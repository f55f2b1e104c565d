"""The engine's signing key: from the environment, AWS Secrets Manager or SSM Parameter Store.

On an EC2 host the key should live in AWS, not on disk: the instance role reads it at start-up
and it never touches a file, a process listing or a log. One source is configured at a time:

=============================  ===============================================================
``PMENGINE_SECRET_ID``         a Secrets Manager secret (name or ARN); its ``SecretString`` is
                               the key itself (``0x`` + 64 hex) or a JSON object holding it
``PMENGINE_SECRET_FIELD``      the JSON field that holds the key (default ``private_key``)
``PMENGINE_SSM_PARAMETER``     an SSM Parameter Store name; must be a ``SecureString`` (it is
                               read with decryption; a plain ``String`` is refused)
``PMENGINE_PRIVATE_KEY``       the key in the environment; ``PM_PRIVATE_KEY`` and
                               ``PRIVATE_KEY`` are read too, in that order
``AWS_REGION``                 the region of the secret (``AWS_DEFAULT_REGION`` next; default
                               ``eu-west-1``, where pmt's hosts run)
``PMENGINE_AWS_ENDPOINT_URL``  send the AWS calls elsewhere (a VPC endpoint, or a local moto
                               server in tests)
=============================  ===============================================================

Setting two sources at once is an error rather than a silent precedence rule: with real money,
the operator must know which key signs. The key comes back as a masked
:class:`pmtrader.config.Secret`; no message raised here or logged here ever contains it, and the
AWS SDK's own debug logging (which prints whole response bodies) is held at INFO while the
secret is fetched.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import structlog
from pmtrader.config import Secret

from pmengine.errors import ConfigError

if TYPE_CHECKING:
    from botocore.config import Config
    from types_boto3_secretsmanager import SecretsManagerClient
    from types_boto3_ssm import SSMClient

__all__ = [
    "DEFAULT_AWS_REGION",
    "AwsSettings",
    "KeySettings",
    "KeySource",
    "load_private_key",
]

#: pmt's hosts run in Ireland, next to Polymarket's infrastructure.
DEFAULT_AWS_REGION: Final = "eu-west-1"
_ENV_KEY_NAMES: Final = ("PMENGINE_PRIVATE_KEY", "PM_PRIVATE_KEY", "PRIVATE_KEY")
_DEFAULT_SECRET_FIELD: Final = "private_key"  # noqa: S105  # a JSON field name, not a secret
_HEX_KEY: Final = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
# Loggers that print request and response bodies at DEBUG (botocore prints the whole
# GetSecretValue response, secret included).
_NOISY_LOGGERS: Final = ("botocore", "boto3", "urllib3", "s3transfer")

_log = structlog.get_logger(__name__)


class KeySource(enum.Enum):
    """Where the signing key comes from."""

    ENVIRONMENT = "environment"
    SECRETS_MANAGER = "secretsmanager"
    SSM_PARAMETER_STORE = "ssm"


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """Where the AWS calls go.

    Attributes:
        region: The region of the secret or parameter.
        endpoint_url: An endpoint override (VPC endpoint, local moto server), or ``None``.
    """

    region: str = DEFAULT_AWS_REGION
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AwsSettings:
        """Read ``AWS_REGION``/``AWS_DEFAULT_REGION`` and ``PMENGINE_AWS_ENDPOINT_URL``."""
        region = (
            environ.get("AWS_REGION", "").strip()
            or environ.get("AWS_DEFAULT_REGION", "").strip()
            or DEFAULT_AWS_REGION
        )
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", region):
            raise ConfigError(
                f"AWS_REGION must be an AWS region name such as eu-west-1, got {region!r}"
            )
        endpoint = environ.get("PMENGINE_AWS_ENDPOINT_URL", "").strip() or None
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                f"PMENGINE_AWS_ENDPOINT_URL must be an http:// or https:// URL, got {endpoint!r}"
            )
        return cls(region=region, endpoint_url=endpoint)


@dataclass(frozen=True, slots=True)
class KeySettings:
    """Which single source holds the key, read once from the environment at the edge.

    Attributes:
        source: The configured source, or ``None`` when no key is configured (dry-run).
        env_key: The key itself when ``source`` is the environment.
        env_name: The variable ``env_key`` came from.
        secret_id: The Secrets Manager secret id when ``source`` is Secrets Manager.
        secret_field: The JSON field holding the key inside a JSON secret.
        ssm_parameter: The parameter name when ``source`` is SSM Parameter Store.
        aws: Region and endpoint for the AWS sources.
    """

    source: KeySource | None
    env_key: Secret | None = None
    env_name: str | None = None
    secret_id: str | None = None
    secret_field: str = _DEFAULT_SECRET_FIELD
    ssm_parameter: str | None = None
    aws: AwsSettings = AwsSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> KeySettings:
        """Read the key's source from ``environ``.

        Raises:
            ConfigError: More than one source is set, or a value is malformed. The message
                names the variables, never a key.
        """
        secret_id = environ.get("PMENGINE_SECRET_ID", "").strip() or None
        ssm_parameter = environ.get("PMENGINE_SSM_PARAMETER", "").strip() or None
        env_name = next((name for name in _ENV_KEY_NAMES if environ.get(name, "").strip()), None)
        configured = [
            name
            for name, value in (
                ("PMENGINE_SECRET_ID", secret_id),
                ("PMENGINE_SSM_PARAMETER", ssm_parameter),
                (env_name or "", env_name),
            )
            if value
        ]
        if len(configured) > 1:
            raise ConfigError(
                f"{' and '.join(configured)} are all set, but the signing key must come from "
                "exactly one place: unset all but one"
            )
        secret_field = environ.get("PMENGINE_SECRET_FIELD", "").strip() or _DEFAULT_SECRET_FIELD
        if secret_id is not None or ssm_parameter is not None:
            aws = AwsSettings.from_env(environ)
            if secret_id is not None:
                return cls(
                    source=KeySource.SECRETS_MANAGER,
                    secret_id=secret_id,
                    secret_field=secret_field,
                    aws=aws,
                )
            return cls(source=KeySource.SSM_PARAMETER_STORE, ssm_parameter=ssm_parameter, aws=aws)
        if env_name is not None:
            value = _checked_key(environ[env_name].strip(), where=env_name)
            return cls(source=KeySource.ENVIRONMENT, env_key=value, env_name=env_name)
        return cls(source=None)


def load_private_key(settings: KeySettings) -> Secret | None:
    """Fetch the signing key from its configured source.

    Call it only for live trading: dry-run never needs (and so never loads) the key.

    Args:
        settings: The source, from :meth:`KeySettings.from_env`.

    Returns:
        The key as a masked :class:`~pmtrader.config.Secret` (``0x`` + 64 hex), or ``None``
        when no source is configured.

    Raises:
        ConfigError: The secret or parameter is missing, unreadable with the instance's
            credentials, or does not hold a key. The message says what to fix.
    """
    if settings.source is None:
        return None
    if settings.source is KeySource.ENVIRONMENT:
        assert settings.env_key is not None
        _log.info("secrets.key_loaded", source=settings.source.value, variable=settings.env_name)
        return settings.env_key
    if settings.source is KeySource.SECRETS_MANAGER:
        assert settings.secret_id is not None
        key = _from_secrets_manager(settings.secret_id, settings.secret_field, settings.aws)
        _log.info(
            "secrets.key_loaded",
            source=settings.source.value,
            secret_id=settings.secret_id,
            region=settings.aws.region,
        )
        return key
    assert settings.ssm_parameter is not None
    key = _from_ssm(settings.ssm_parameter, settings.aws)
    _log.info(
        "secrets.key_loaded",
        source=settings.source.value,
        parameter=settings.ssm_parameter,
        region=settings.aws.region,
    )
    return key


def _checked_key(raw: str, *, where: str) -> Secret:
    """Wrap ``raw`` as a ``0x``-prefixed key, or say (without the value) why it is not one."""
    if not _HEX_KEY.fullmatch(raw):
        raise ConfigError(
            f"{where} does not hold a private key: expected 64 hex digits, optionally "
            f"0x-prefixed ({len(raw)} characters found; the value is not shown)"
        )
    return Secret(raw if raw.startswith("0x") else "0x" + raw)


@contextlib.contextmanager
def _quiet_aws_sdk() -> Iterator[None]:
    """Hold the AWS SDK's loggers at INFO or above: at DEBUG they print response bodies."""
    saved: list[tuple[logging.Logger, int]] = []
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _client_config() -> Config:
    from botocore.config import Config

    # Start-up must fail fast and clearly, not hang on a missing VPC route.
    return Config(
        connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
    )


def _aws_error(what: str, exc: Exception) -> ConfigError:
    """Turn a boto error into advice; boto's messages hold ids and codes, never the value."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return ConfigError(
            f"cannot read {what}: no AWS credentials (attach an instance role, or set "
            "AWS_PROFILE / AWS_ACCESS_KEY_ID)"
        )
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        return ConfigError(
            f"cannot read {what}: AWS answered {code}; check the name, the region and that the "
            "instance role may read it (and decrypt it with its KMS key)"
        )
    return ConfigError(f"cannot read {what}: {type(exc).__name__}: {exc}")


def _secrets_manager_client(aws: AwsSettings) -> SecretsManagerClient:
    import boto3

    return boto3.session.Session().client(
        "secretsmanager",
        region_name=aws.region,
        endpoint_url=aws.endpoint_url,
        config=_client_config(),
    )


def _ssm_client(aws: AwsSettings) -> SSMClient:
    import boto3

    return boto3.session.Session().client(
        "ssm",
        region_name=aws.region,
        endpoint_url=aws.endpoint_url,
        config=_client_config(),
    )


def _from_secrets_manager(secret_id: str, field: str, aws: AwsSettings) -> Secret:
    from botocore.exceptions import BotoCoreError, ClientError

    what = f"Secrets Manager secret {secret_id!r} in {aws.region}"
    with _quiet_aws_sdk():
        try:
            response = _secrets_manager_client(aws).get_secret_value(SecretId=secret_id)
        except (BotoCoreError, ClientError) as exc:
            raise _aws_error(what, exc) from exc
    raw = response.get("SecretString")
    if raw is None:
        raise ConfigError(f"{what} is binary; store the key as a SecretString")
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            document = json.loads(raw)
        except json.JSONDecodeError:
            # The decoder's message quotes the document: say where, not what.
            raise ConfigError(f"{what} looks like JSON but does not parse") from None
        value = document.get(field) if isinstance(document, dict) else None
        if not isinstance(value, str):
            raise ConfigError(
                f"{what} is a JSON secret without a string field {field!r} "
                "(set PMENGINE_SECRET_FIELD to the field that holds the key)"
            )
        return _checked_key(value.strip(), where=f"field {field!r} of {what}")
    return _checked_key(raw, where=what)


def _from_ssm(name: str, aws: AwsSettings) -> Secret:
    from botocore.exceptions import BotoCoreError, ClientError

    what = f"SSM parameter {name!r} in {aws.region}"
    with _quiet_aws_sdk():
        try:
            response = _ssm_client(aws).get_parameter(Name=name, WithDecryption=True)
        except (BotoCoreError, ClientError) as exc:
            raise _aws_error(what, exc) from exc
    parameter = response["Parameter"]
    if parameter.get("Type") != "SecureString":
        raise ConfigError(
            f"{what} is a {parameter.get('Type')}, not a SecureString: a key must be stored "
            "encrypted (aws ssm put-parameter --type SecureString …)"
        )
    return _checked_key(parameter.get("Value", "").strip(), where=what)
