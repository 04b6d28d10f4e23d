"""Throwaway TLS material for the MLflow TLS tests: a CA, a server cert for 127.0.0.1, a client cert.

Run with a python that has ``cryptography`` (the MLflow venv has it: mlflow depends on it), so
neither aliasgate nor its test extra needs it and no ``openssl`` CLI is required::

    python mlflow_certs.py OUTDIR

writes ``ca.pem``, ``server.pem`` + ``server.key`` (SAN: IP 127.0.0.1), ``client.pem`` (the
client's certificate and key in one file, as ``MLFLOW_TRACKING_CLIENT_CERT_PATH`` takes it), and
``other-ca.pem`` (a second CA that signed nothing here: trusting it must not be enough).
"""

from __future__ import annotations

import datetime
import ipaddress
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FILES = ("ca.pem", "other-ca.pem", "server.pem", "server.key", "client.pem")


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aliasgate tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _pem_key(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _ca(common: str) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca_key: Any, ca_cert: x509.Certificate, common: str, *, server: bool
) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca_key, ca_cert = _ca("aliasgate test CA")
    _, other_cert = _ca("aliasgate unrelated CA")
    server_key, server_cert = _leaf(ca_key, ca_cert, "127.0.0.1", server=True)
    client_key, client_cert = _leaf(ca_key, ca_cert, "aliasgate test client", server=False)
    (out / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (out / "other-ca.pem").write_bytes(other_cert.public_bytes(pem))
    (out / "server.pem").write_bytes(server_cert.public_bytes(pem))
    (out / "server.key").write_bytes(_pem_key(server_key))
    (out / "client.pem").write_bytes(client_cert.public_bytes(pem) + _pem_key(client_key))
    for name in ("server.key", "client.pem"):
        (out / name).chmod(0o600)


if __name__ == "__main__":
    write(Path(sys.argv[1]))
