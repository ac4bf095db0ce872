"""A throw-away certificate authority for loopback TLS servers (autodiscover, SIP registrar).

Usage::

    ca = TestCA.create(tmp_path)
    cert, key = ca.issue(["pool.example.test"], ip_addresses=["127.0.0.1"])
    expired = ca.issue(["old.example.test"], not_after=past)
    alone = self_signed(tmp_path, ["rogue.example.test"])
    ssl_context.load_verify_locations(ca.ca_path)

Keys are ECDSA P-256 (fast to generate). Files are PEM; keys unencrypted (test use only).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["IssuedCertificate", "TestCA", "self_signed"]

_counter = itertools.count(1)


class IssuedCertificate(NamedTuple):
    """Paths of a leaf certificate (PEM) and its private key (PEM)."""

    cert_path: Path
    key_path: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _san(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    entries += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    return x509.SubjectAlternativeName(entries)


def _leaf_builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
                  dns_names: Sequence[str], ip_addresses: Sequence[str],
                  not_before: dt.datetime, not_after: dt.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_san(dns_names, ip_addresses), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                     content_commitment=False, data_encipherment=False,
                                     key_agreement=True, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
    )


@dataclass(frozen=True)
class TestCA:
    """A CA certificate + key on disk that issues leaf certificates."""

    __test__ = False  # not a pytest test class

    directory: Path
    ca_path: Path
    key_path: Path
    name: x509.Name
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, directory: Path, common_name: str = "sipe-setup Test CA") -> TestCA:
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                         content_commitment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        ca_path = directory / "test-ca.pem"
        key_path = directory / "test-ca.key"
        ca_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
        return cls(directory, ca_path, key_path, name, key)

    def issue(self, dns_names: Sequence[str], *, ip_addresses: Sequence[str] = (),
              not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> IssuedCertificate:
        """A leaf certificate for ``dns_names`` (+ IPs), signed by this CA.

        Pass a ``not_after`` in the past for an expired certificate.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        common_name = dns_names[0] if dns_names else (ip_addresses[0] if ip_addresses else "x")
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        after = not_after or now + dt.timedelta(days=7)
        before = not_before or min(now - dt.timedelta(hours=1), after - dt.timedelta(days=1))
        cert = (_leaf_builder(subject, self.name, key.public_key(), dns_names, ip_addresses,
                              before, after)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        stem = f"leaf-{next(_counter)}-{common_name.replace('*', 'star')}"
        cert_path = self.directory / f"{stem}.pem"
        key_path = self.directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
        return IssuedCertificate(cert_path, key_path)


def self_signed(directory: Path, dns_names: Sequence[str], *,
                ip_addresses: Sequence[str] = ()) -> IssuedCertificate:
    """A self-signed leaf certificate (trusted by nobody)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            dns_names[0] if dns_names else "self-signed")])
    now = _now()
    cert = _leaf_builder(subject, subject, key.public_key(), dns_names, ip_addresses,
                         now - dt.timedelta(hours=1), now + dt.timedelta(days=7)
                         ).sign(key, hashes.SHA256())
    stem = f"self-signed-{next(_counter)}"
    cert_path = directory / f"{stem}.pem"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return IssuedCertificate(cert_path, key_path)
