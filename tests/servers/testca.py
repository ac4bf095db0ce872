"""A throw-away certificate authority for loopback TLS servers (autodiscover, SIP registrar).

Usage::

    ca = TestCA.create(tmp_path)
    cert, key = ca.issue(["pool.example.test"], ip_addresses=["127.0.0.1"])
    expired = ca.issue(["old.example.test"], not_after=past)
    alone = self_signed(tmp_path, ["rogue.example.test"])
    ssl_context.load_verify_locations(ca.ca_path)
    tls_dsk_server = ca.issue(["server.example.test"], key_type="rsa")
    client = ca.certify(csr.public_key(), "sip:alice@example.test")  # from a CSR, in memory

Keys are ECDSA P-256 by default (fast to generate); ``key_type="rsa"`` gives RSA-2048 where a peer
needs RSA (SIPE's TLS-DSK takes only an RSA server key, and its RSA key exchange needs
keyEncipherment). Files are PEM; keys unencrypted (test use only).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["IssuedCertificate", "KeyType", "TestCA", "self_signed"]

KeyType = Literal["ecdsa", "rsa"]

_counter = itertools.count(1)


class IssuedCertificate(NamedTuple):
    """Paths of a leaf certificate (PEM) and its private key (PEM)."""

    cert_path: Path
    key_path: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key(key_type: KeyType) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _key_usage(public_key: CertificatePublicKeyTypes) -> x509.KeyUsage:
    """digitalSignature, plus what the key type does in TLS: RSA key exchange encrypts to an RSA
    key (keyEncipherment), ECDH agrees with an EC key (keyAgreement)."""
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(digital_signature=True, key_encipherment=is_rsa,
                         content_commitment=False, data_encipherment=False,
                         key_agreement=not is_rsa, key_cert_sign=False, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def _write_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _san(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    entries += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    return x509.SubjectAlternativeName(entries)


def _leaf_builder(subject: x509.Name, issuer: x509.Name, public_key: CertificatePublicKeyTypes,
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
        .add_extension(_key_usage(public_key), critical=True)
    )


@dataclass(frozen=True)
class TestCA:
    """A CA certificate + key on disk that issues leaf certificates."""

    __test__ = False  # not a pytest test class

    directory: Path
    ca_path: Path
    key_path: Path
    name: x509.Name
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @classmethod
    def create(cls, directory: Path, common_name: str = "sipe-setup Test CA", *,
               key_type: KeyType = "ecdsa") -> TestCA:
        directory.mkdir(parents=True, exist_ok=True)
        key = _new_key(key_type)
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

    @cached_property
    def certificate(self) -> x509.Certificate:
        """The CA certificate itself."""
        return x509.load_pem_x509_certificate(self.ca_path.read_bytes())

    def issue(self, dns_names: Sequence[str], *, ip_addresses: Sequence[str] = (),
              not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None,
              key_type: KeyType = "ecdsa") -> IssuedCertificate:
        """A leaf certificate for ``dns_names`` (+ IPs), signed by this CA.

        Pass a ``not_after`` in the past for an expired certificate.
        """
        key = _new_key(key_type)
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

    def certify(self, public_key: CertificatePublicKeyTypes, common_name: str, *,
                not_before: dt.datetime | None = None,
                not_after: dt.datetime | None = None) -> x509.Certificate:
        """A client-authentication certificate for someone else's key (e.g. from a CSR).

        Subject ``CN=common_name``, EKU clientAuth only, no SAN; 8 hours unless ``not_after``.
        Nothing is written to disk: the key's owner already holds the private half.
        """
        now = _now()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        return (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.name).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(minutes=5))
            .not_valid_after(not_after or now + dt.timedelta(hours=8))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(_key_usage(public_key), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )


def self_signed(directory: Path, dns_names: Sequence[str], *,
                ip_addresses: Sequence[str] = (), key_type: KeyType = "ecdsa") -> IssuedCertificate:
    """A self-signed leaf certificate (trusted by nobody)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key(key_type)
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
