"""The rules for librdkafka properties given as `KAFKA_<NAME>` variables: which ones the worker
owns, which are secrets, and which TLS and SASL combinations are refused at start-up because
librdkafka would accept them but they cannot work, or would quietly send credentials nowhere
or trust any certificate."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

__all__ = [
    "FILE_SUFFIX",
    "GUARANTEE_PROPERTIES",
    "PASSTHROUGH_PREFIX",
    "SASL_MECHANISMS",
    "SECURITY_PROTOCOLS",
    "check_security",
    "env_name_of_property",
    "is_secret",
]

PASSTHROUGH_PREFIX = "KAFKA_"
#: `<VARIABLE>_FILE` holds the path of a file with the value of a secret `<VARIABLE>`.
FILE_SUFFIX = "_FILE"

#: librdkafka properties the delivery guarantees rest on: the worker sets them itself and
#: refuses an override, because with any other value a crash could lose messages.
GUARANTEE_PROPERTIES: dict[str, str] = {
    "enable.auto.commit": "offsets are committed only after delivery is acknowledged",
    "enable.auto.offset.store": "offsets are stored only after delivery is acknowledged",
    "enable.idempotence": "the producer must be idempotent",
    "acks": "verdicts are acknowledged by all in-sync replicas",
    "group.id": "set the consumer group with GROUP_ID",
    "bootstrap.servers": "set the brokers with KAFKA_BOOTSTRAP_SERVERS",
    "transactional.id": "the worker is at-least-once, not transactional",
}

#: Fragments of librdkafka property names whose values are secrets.
_SECRET_MARKERS = (
    "password",
    "passphrase",
    "secret",
    "key.pem",
    "sasl.jaas",
    "sasl.oauthbearer.config",
    "ssl.key",
    "token",
)

#: `security.protocol` values (librdkafka reads them in any case; we write them upper-case).
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: SASL mechanisms of this librdkafka build that the worker can use without code of its own
#: (GSSAPI is not built into the confluent-kafka wheels; OAUTHBEARER only with OIDC).
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
_PASSWORD_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})
#: Paths librdkafka reads at start; a missing one fails here, naming its variable.
_TLS_FILE_PROPERTIES = (
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.crl.location",
    "ssl.keystore.location",
)
#: Properties that would switch off what TLS is for: knowing who is at the other end.
_VERIFICATION_OFF: dict[str, tuple[set[str], str]] = {
    "enable.ssl.certificate.verification": (
        {"false", "0", "no", "off"},
        "the broker's certificate is always verified; give its CA with KAFKA_SSL_CA_LOCATION",
    ),
    "ssl.endpoint.identification.algorithm": (
        {"none"},
        "the broker's host name is always checked against its certificate; "
        "use the names its certificate carries in KAFKA_BOOTSTRAP_SERVERS",
    ),
}


def env_name_of_property(prop: str) -> str:
    """`session.timeout.ms` -> `KAFKA_SESSION_TIMEOUT_MS` (for error messages)."""
    return PASSTHROUGH_PREFIX + prop.replace(".", "_").upper()


def is_secret(prop: str) -> bool:
    return any(marker in prop for marker in _SECRET_MARKERS)


def check_security(props: dict[str, SecretStr | str]) -> dict[str, SecretStr | str]:
    """TLS and SASL properties that librdkafka would accept but that cannot work, or would
    quietly send credentials nowhere or trust any certificate, stop start-up here."""
    plain = {p: v for p, v in props.items() if isinstance(v, str)}
    env = env_name_of_property
    if "sasl.mechanisms" in props:  # librdkafka's older name of the same property
        if "sasl.mechanism" in props:
            raise ValueError(
                f"{env('sasl.mechanism')} and {env('sasl.mechanisms')}: set one of them"
            )
        props = {("sasl.mechanism" if p == "sasl.mechanisms" else p): v for p, v in props.items()}
        plain = {p: v for p, v in props.items() if isinstance(v, str)}

    protocol = plain.get("security.protocol", "PLAINTEXT").strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(
            f"{env('security.protocol')}: must be one of {', '.join(SECURITY_PROTOCOLS)} "
            f"(got {plain['security.protocol']!r})"
        )
    if "security.protocol" in props:
        props["security.protocol"] = protocol

    mechanism = plain.get("sasl.mechanism", "").strip().upper()
    if mechanism:
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(
                f"{env('sasl.mechanism')}: must be one of {', '.join(SASL_MECHANISMS)} "
                f"(got {plain['sasl.mechanism']!r})"
            )
        props["sasl.mechanism"] = mechanism
    if protocol.startswith("SASL_"):
        if not mechanism:
            raise ValueError(
                f"{env('sasl.mechanism')}: required with {env('security.protocol')}={protocol}"
                f" (one of {', '.join(SASL_MECHANISMS)})"
            )
        if mechanism in _PASSWORD_MECHANISMS:
            for prop in ("sasl.username", "sasl.password"):
                value = props.get(prop)
                raw = value.get_secret_value() if isinstance(value, SecretStr) else value
                if not raw:
                    raise ValueError(
                        f"{env(prop)} (or {env(prop)}{FILE_SUFFIX}): required with "
                        f"{env('sasl.mechanism')}={mechanism}"
                    )
        if mechanism == "OAUTHBEARER" and plain.get("sasl.oauthbearer.method", "").lower() != (
            "oidc"
        ):
            raise ValueError(
                f"{env('sasl.oauthbearer.method')}: must be oidc with "
                f"{env('sasl.mechanism')}=OAUTHBEARER (the worker has no token callback)"
            )
    elif mechanism:
        raise ValueError(
            f"{env('security.protocol')}: is {protocol}, so {env('sasl.mechanism')} and the "
            "SASL credentials would never be used; set SASL_SSL (or SASL_PLAINTEXT)"
        )

    tls = protocol in {"SSL", "SASL_SSL"}
    for prop in _TLS_FILE_PROPERTIES:
        path = plain.get(prop)
        if path is None:
            continue
        if not tls:
            raise ValueError(
                f"{env('security.protocol')}: is {protocol}, so {env(prop)} would be ignored "
                "and nothing encrypted; set SSL or SASL_SSL"
            )
        if prop == "ssl.ca.location" and path == "probe":
            continue
        if not Path(path).exists():
            raise ValueError(f"{env(prop)}: {path} does not exist")
        if not os.access(path, os.R_OK):
            raise ValueError(f"{env(prop)}: {path} is not readable by this user")
    has_cert = "ssl.certificate.location" in props
    has_key = "ssl.key.location" in props
    if has_cert != has_key:
        missing = "ssl.key.location" if has_cert else "ssl.certificate.location"
        present = "ssl.certificate.location" if has_cert else "ssl.key.location"
        raise ValueError(f"{env(missing)}: required with {env(present)} (mutual TLS)")
    for prop, (refused, reason) in _VERIFICATION_OFF.items():
        if plain.get(prop, "").strip().lower() in refused:
            raise ValueError(f"{env(prop)} cannot be {plain[prop]!r}: {reason}")
    return props
