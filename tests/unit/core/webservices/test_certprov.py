"""SIPE's CSR, GetAndPublishCert request/response, identifiers and certificate validity."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from sipe_setup.core.webservices import (
    WebServiceFormatError,
    build_csr,
    build_csr_der,
    build_get_and_publish_cert,
    certificate_validity,
    message_id_for,
    new_client_key,
    new_request_id,
    parse_get_and_publish_cert_response,
    uuid_from_text,
)
from sipe_setup.core.webservices.certprov import csr_text
from sipe_setup.core.webservices.sipexml import parse_tree

NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(key: rsa.RSAPrivateKey, not_before: datetime, not_after: datetime) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sip:alice@example.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def response(token: str, *, path: str = "RequestedSecurityToken") -> bytes:
    return ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            "<GetAndPublishCertResponse><RequestSecurityTokenResponse>"
            f"<{path}><BinarySecurityToken>{token}</BinarySecurityToken></{path}>"
            "</RequestSecurityTokenResponse></GetAndPublishCertResponse></s:Body></s:Envelope>"
            ).encode()


# --- the CSR -----------------------------------------------------------------------------------


def test_new_client_key_is_rsa_2048_f4() -> None:
    generated = new_client_key()
    assert generated.key_size == 2048
    assert generated.public_key().public_numbers().e == 65537


def test_csr_is_pkcs10_v0_utf8_cn_empty_attributes_sha256(key: rsa.RSAPrivateKey) -> None:
    der = build_csr_der(key, "alice@example.test")
    csr = x509.load_der_x509_csr(der)
    assert csr.is_signature_valid
    assert csr.signature_hash_algorithm is not None
    assert csr.signature_hash_algorithm.name == "sha256"
    assert csr.subject.rfc4514_string() == "CN=alice@example.test"
    assert len(list(csr.attributes)) == 0
    info = csr.tbs_certrequest_bytes
    assert info[4:7] == b"\x02\x01\x00"  # version 0
    assert b"\x0c\x12alice@example.test" in info  # UTF8String
    assert info.endswith(b"\xa0\x00")  # attributes [0] with length 0


def test_csr_equals_cryptographys_builder_for_a_utf8_subject(key: rsa.RSAPrivateKey) -> None:
    reference = (x509.CertificateSigningRequestBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                             "bob@example.test")]))
                 .sign(key, hashes.SHA256()))
    assert build_csr_der(key, "bob@example.test") == reference.public_bytes(
        serialization.Encoding.DER)


def test_printable_subject_becomes_printable_string_as_in_nss(key: rsa.RSAPrivateKey) -> None:
    assert b"\x13\x05alice" in x509.load_der_x509_csr(
        build_csr_der(key, "alice")).tbs_certrequest_bytes
    assert b"\x0c\x0cj\xc3\xbcrgen@x.de" in x509.load_der_x509_csr(
        build_csr_der(key, "jürgen@x.de")).tbs_certrequest_bytes


@pytest.mark.parametrize("signin", ["", "a,o=x@example.test", "a+b@x", 'a"b@x', "a;b@x",
                                    "#a@x", "a\\b@x", " a@x", "a@x ", "a\r@x", "a\0@x",
                                    "a<b@x", "x" * 641])
def test_sign_ins_nss_would_misread_are_refused(key: rsa.RSAPrivateKey, signin: str) -> None:
    with pytest.raises(ValueError, match="cannot go into SIPE's certificate request"):
        build_csr(key, signin)


def test_long_but_allowed_sign_in(key: rsa.RSAPrivateKey) -> None:
    signin = "a" * 300 + "@" + "b" * 339
    assert x509.load_der_x509_csr(build_csr_der(key, signin)).is_signature_valid


@pytest.mark.parametrize(("size", "lines"), [
    (57, [76, 0]), (56, [76, 0]),  # exactly one full line: SIPE ends it with CRLF
    (58, [76, 4]), (54, [72]), (114, [76, 76, 0]), (1, [4])])
def test_csr_text_line_layout(size: int, lines: list[int]) -> None:
    text = csr_text(bytes(size))
    assert [len(line) for line in text.split("\r\n")] == lines
    assert base64.b64decode(text.replace("\r\n", "")) == bytes(size)


# --- identifiers -------------------------------------------------------------------------------


def test_uuid_from_text_is_a_v5_like_uuid_and_stops_at_nul() -> None:
    value = uuid.UUID(uuid_from_text("anything"))
    assert value.version == 5
    assert value.variant == uuid.RFC_4122
    assert uuid_from_text("abc\0def") == uuid_from_text("abc")
    assert uuid_from_text("é") != uuid_from_text("e")


def test_request_id_is_the_uuid_of_base64_of_32_random_bytes() -> None:
    seen: list[int] = []

    def fixed(count: int) -> bytes:
        seen.append(count)
        return bytes(range(count))

    expected = uuid_from_text(base64.b64encode(bytes(range(32))).decode())
    assert new_request_id(fixed) == expected
    assert seen == [32]
    assert new_request_id() != new_request_id()


# --- the request -------------------------------------------------------------------------------


def test_request_defaults_to_sipes_message_id_and_escapes_values() -> None:
    body = build_get_and_publish_cert(auth_uri="https://h/p?a&b", wsse="<x/>",
                                      signin='a"&b@x', instance_uuid="u", csr="QUJD\r\nRA==",
                                      request_id="r")
    assert f"<wsa:MessageID>uuid:{message_id_for('<x/>')}</wsa:MessageID>".encode() in body
    root = parse_tree(body, document="request")
    request = root.child("Body/GetAndPublishCert")
    assert request is not None
    assert request.attribute("Entity") == 'a"&b@x'
    assert request.attribute("DeviceId") == "{u}"
    to = root.child("Header/To")
    assert to is not None
    assert to.data == "https://h/p?a&b"
    token = request.child("RequestSecurityToken/BinarySecurityToken")
    assert token is not None
    assert token.data == "\nQUJD\nRA=="  # CRLF after '>' as SIPE writes it (parsed → LF)


@pytest.mark.parametrize("csr", ["", "<csr/>", "QUJD RA=="])
def test_request_refuses_a_non_base64_csr(csr: str) -> None:
    with pytest.raises(ValueError, match="base64"):
        build_get_and_publish_cert(auth_uri="https://h/p", wsse="", signin="a@x",
                                   instance_uuid="u", csr=csr, request_id="r")


# --- the response ------------------------------------------------------------------------------


def test_single_certificate_is_returned(key: rsa.RSAPrivateKey) -> None:
    der = certificate(key, NOW, NOW + timedelta(hours=8))
    wrapped = "\r\n".join(base64.b64encode(der).decode()[i:i + 64] for i in range(0, 2000, 64))
    assert parse_get_and_publish_cert_response(response(wrapped)) == der


def test_pkcs7_bundle_is_refused_with_sipes_consequence(key: rsa.RSAPrivateKey) -> None:
    der = certificate(key, NOW, NOW + timedelta(hours=8))
    bundle = pkcs7.serialize_certificates([x509.load_der_x509_certificate(der)],
                                          serialization.Encoding.DER)
    with pytest.raises(WebServiceFormatError, match=r"PKCS#7 bundle.*send the whole bundle"):
        parse_get_and_publish_cert_response(response(base64.b64encode(bundle).decode()))


@pytest.mark.parametrize("token", [
    base64.b64encode(b"garbage, not DER").decode(),
    "!!!!",
    base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").decode(),
    base64.b64encode(bytes.fromhex("300b06092a864886f70d010701")).decode(),  # PKCS#7 data
    base64.b64encode(bytes.fromhex("300b06092a864886f70d010702")).decode(),  # no certificates
])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(WebServiceFormatError, match=r"not a DER X\.509|not base64"):
        parse_get_and_publish_cert_response(response(token))


def test_trailing_bytes_after_the_certificate_are_refused(key: rsa.RSAPrivateKey) -> None:
    der = certificate(key, NOW, NOW + timedelta(hours=8)) + b"\0\0\0"
    with pytest.raises(WebServiceFormatError, match=r"not a DER X\.509"):
        parse_get_and_publish_cert_response(response(base64.b64encode(der).decode()))


@pytest.mark.parametrize(("body", "message"), [
    (response("MIIB", path="Other"), "has no Body/GetAndPublishCertResponse"),
    (response(""), "has an empty"),
    (b"<s:Envelope><s:Body><s:Fault><faultstring>CA offline</faultstring></s:Fault></s:Body>"
     b"</s:Envelope>", "SOAP fault: CA offline"),
    (b"nonsense", "not well-formed"),
])
def test_missing_certificate(body: bytes, message: str) -> None:
    with pytest.raises(WebServiceFormatError, match=message):
        parse_get_and_publish_cert_response(body)


# --- validity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end", "loops"), [
    (timedelta(minutes=-5), timedelta(hours=8), False),
    (timedelta(minutes=-5), timedelta(minutes=59), True),      # < 1 h left: endless loop
    (timedelta(minutes=-5), timedelta(hours=1), False),        # exactly 1 h: still valid
    (timedelta(hours=12), timedelta(hours=20), False),         # NSS: 1 day notBefore slop
    (timedelta(days=2), timedelta(days=3), True),              # not yet valid
    (timedelta(hours=-9), timedelta(hours=-1), True),          # expired
])
def test_sipe_loops_when_not_valid_one_hour_from_now(key: rsa.RSAPrivateKey, start: timedelta,
                                                     end: timedelta, loops: bool) -> None:
    der = certificate(key, NOW + start, NOW + end)
    validity = certificate_validity(der, NOW, client_key=key)
    assert validity.sipe_loops is loops
    assert validity.seconds_left == int(end.total_seconds())
    assert validity.sipe_expires == max(0, int(end.total_seconds()))
    assert validity.public_key_matches is True
    assert validity.not_after == NOW + end


def test_public_key_mismatch_and_no_key(key: rsa.RSAPrivateKey) -> None:
    der = certificate(key, NOW, NOW + timedelta(hours=8))
    other = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    ec_der = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
              .public_key(other.public_key()).serial_number(2).not_valid_before(NOW)
              .not_valid_after(NOW + timedelta(hours=8)).sign(other, hashes.SHA256())
              .public_bytes(serialization.Encoding.DER))
    assert certificate_validity(der, NOW).public_key_matches is None
    assert certificate_validity(ec_der, NOW, client_key=key).public_key_matches is False
    assert certificate_validity(der, NOW, client_key=new_client_key().public_key()
                                ).public_key_matches is False


def test_validity_arguments(key: rsa.RSAPrivateKey) -> None:
    der = certificate(key, NOW, NOW + timedelta(hours=8))
    with pytest.raises(ValueError, match="time zone"):
        certificate_validity(der, NOW.replace(tzinfo=None))
    with pytest.raises(WebServiceFormatError, match=r"not a readable X\.509"):
        certificate_validity(b"\x30\x03\x02\x01\x00", NOW)
