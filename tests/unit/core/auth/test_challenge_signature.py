"""Challenges, Authorization forms and signature strings (reference §3.3-3.5, §3.8)."""

from __future__ import annotations

import pytest

from sipe_setup.core.account import AuthScheme
from sipe_setup.core.auth.challenge import (
    ChallengeScheme,
    MessageSignature,
    build_handshake_authorization,
    build_signed_authorization,
    parse_challenge_header,
    parse_challenges,
    select_challenge,
)
from sipe_setup.core.auth.errors import AuthProtocolError
from sipe_setup.core.auth.signature import (
    authentication_info,
    fields_from_message,
    incoming_signature_fields,
    signature_string,
)
from sipe_setup.core.sip.message import SipProtocolError, SipResponse, parse_message
from tests.golden.capture import requests, responses

THREE = (
    'SIP/2.0 401 Unauthorized\r\n'
    'WWW-Authenticate: NTLM realm="SIP Communications Service", targetname="ocs.contoso.com", '
    'version=4\r\n'
    'WWW-Authenticate: Kerberos realm="SIP Communications Service", '
    'targetname="sip/ocs.contoso.com", version=4\r\n'
    'WWW-Authenticate: TLS-DSK realm="SIP Communications Service", '
    'targetname="ocs.contoso.com", version=4, '
    'sts-uri="https://pool.contoso.com:443/CertProv/CertProvisioningService.svc"\r\n'
    'WWW-Authenticate: Digest realm="voip", nonce="abc", algorithm=MD5\r\n'
    'WWW-Authenticate: Weird ,,="\r\n'
    'Content-Length: 0\r\n\r\n')


def three() -> SipResponse:
    msg = parse_message(THREE.encode())
    assert isinstance(msg, SipResponse)
    return msg


def test_parse_all_offered_schemes() -> None:
    chs = parse_challenges(three())
    assert [c.scheme for c in chs] == [ChallengeScheme.NTLM, ChallengeScheme.KERBEROS,
                                       ChallengeScheme.TLS_DSK, ChallengeScheme.DIGEST,
                                       ChallengeScheme.OTHER]
    ntlm, krb, dsk, digest, weird = chs
    assert (ntlm.realm, ntlm.target_name, ntlm.version) == (
        "SIP Communications Service", "ocs.contoso.com", 4)
    assert krb.target_name == "sip/ocs.contoso.com"
    assert dsk.sts_uri == "https://pool.contoso.com:443/CertProv/CertProvisioningService.svc"
    assert digest.params is not None and digest.params.get("nonce") == "abc"
    assert weird.scheme_token == "Weird" and weird.params is None
    assert ntlm.authorization_header_name == "Authorization"


def test_version_absent_is_zero_and_proxy_header() -> None:
    ch = parse_challenge_header('NTLM realm="r", targetname="t"', "Proxy-Authenticate")
    assert ch.version == 0
    assert ch.authorization_header_name == "Proxy-Authorization"
    with pytest.raises(AuthProtocolError, match="no gssapi-data"):
        ch.gssapi_token()
    bad = parse_challenge_header('NTLM realm="r", targetname="t", gssapi-data="!!!"')
    with pytest.raises(AuthProtocolError, match="base64"):
        bad.gssapi_token()


def test_auto_priority_is_by_scheme_not_header_order() -> None:
    chs = parse_challenges(three())
    chosen = select_challenge(chs, AuthScheme.AUTO)
    assert chosen is not None and chosen.scheme is ChallengeScheme.TLS_DSK
    no_dsk = select_challenge(chs, AuthScheme.AUTO,
                              available=[ChallengeScheme.KERBEROS, ChallengeScheme.NTLM])
    assert no_dsk is not None and no_dsk.scheme is ChallengeScheme.KERBEROS
    retry = select_challenge(chs, AuthScheme.AUTO, exclude=[ChallengeScheme.TLS_DSK,
                                                            ChallengeScheme.KERBEROS])
    assert retry is not None and retry.scheme is ChallengeScheme.NTLM
    explicit = select_challenge(chs, AuthScheme.NTLM)
    assert explicit is not None and explicit.scheme is ChallengeScheme.NTLM
    only_ntlm = [c for c in chs if c.scheme is ChallengeScheme.NTLM]
    assert select_challenge(only_ntlm, AuthScheme.KERBEROS) is None
    digest_only = [c for c in chs if c.scheme is ChallengeScheme.DIGEST]
    assert select_challenge(digest_only, AuthScheme.AUTO) is None


def test_authorization_forms_match_the_captures() -> None:
    reg = requests("ntlm-tcp.wire.txt")
    assert build_handshake_authorization(
        ChallengeScheme.NTLM, realm="SIP Communications Service",
        target_name="server.example.test", gssapi_data="", version=4) == \
        reg[1].header("Authorization")
    nover = requests("ntlm-tcp-nover.wire.txt")
    assert build_handshake_authorization(
        "NTLM", realm="SIP Communications Service", target_name="server.example.test",
        gssapi_data="", version=0) == nover[1].header("Authorization")
    krb = next(r for r in requests("krb5-tcp.wire.txt") if r.method == "SUBSCRIBE")
    assert build_signed_authorization(
        ChallengeScheme.KERBEROS, opaque=None, realm="SIP Communications Service",
        target_name="sip/server.example.test",
        signature=MessageSignature("51dc7af7", 2,
                                   "040400FFFFFFFFFF000000001DE60E4A377215E93E21F501F1256D0B"),
    ) == krb.header("Authorization")


def test_krb5_capture_challenge_and_first_signed_form() -> None:
    first = responses("krb5-tcp.wire.txt")[0]
    chs = parse_challenges(first)
    assert [c.scheme for c in chs] == [ChallengeScheme.KERBEROS, ChallengeScheme.NTLM]
    reg = requests("krb5-tcp.wire.txt")[1]
    header = reg.header("Authorization") or ""
    gssapi = header.split('gssapi-data="', 1)[1].split('"', 1)[0]
    assert build_handshake_authorization(
        ChallengeScheme.KERBEROS, realm="SIP Communications Service",
        target_name="sip/server.example.test", gssapi_data=gssapi, version=4,
        signature=MessageSignature("efdfb473", 1,
                                   "040400FFFFFFFFFF000000001DE60E49371B1B27BBA2BF5B7F07ACC9"),
    ) == header


OC_REQUEST = (
    "REGISTER sip:cosmo.local SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 192.168.172.6:12723\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:user@cosmo.local>;tag=3e49177a52;epid=c8ca638a15\r\n"
    "To: <sip:user@cosmo.local>\r\n"
    "Call-ID: 4037df9284354df39065195bd57a4b14\r\n"
    "CSeq: 3 REGISTER\r\n"
    'Proxy-Authorization: NTLM qop="auth", realm="SIP Communications Service", '
    'opaque="2BDBAC9D", targetname="cosmo-ocs-r2.cosmo.local", version=4, gssapi-data="x", '
    'crand="13317733", cnum="1", response="0100000029618e9651b65a7764000000"\r\n'
    "Content-Length: 0\r\n\r\n")
OC_RESPONSE = (
    "SIP/2.0 200 OK\r\n"
    "ms-keep-alive: UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300\r\n"
    'Authentication-Info: NTLM rspauth="01000000E615438A917661BE64000000", srand="9616454F", '
    'snum="1", opaque="2BDBAC9D", qop="auth", targetname="cosmo-ocs-r2.cosmo.local", '
    'realm="SIP Communications Service"\r\n'
    'From: "User"<sip:user@cosmo.local>;tag=3e49177a52;epid=c8ca638a15\r\n'
    "To: <sip:user@cosmo.local>;tag=5E61CCD925D17E043D9A74835A88F664\r\n"
    "Call-ID: 4037df9284354df39065195bd57a4b14\r\n"
    "CSeq: 3 REGISTER\r\n"
    "Expires: 7200\r\n"
    "Content-Length: 0\r\n\r\n")
NOVELL_200 = (
    "SIP/2.0 200 OK\r\nms-keep-alive: UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300\r\n"
    'Authentication-Info: NTLM rspauth="0100000000000000BF2E52667DDF6DED", srand="0878F41B", '
    'snum="1", opaque="4452DFB0", qop="auth", targetname="ocs1.ocs.provo.novell.com", '
    'realm="SIP Communications Service"\r\n'
    'From: "Gabriel Burt"<sip:gabriel@ocs.provo.novell.com>;tag=2947328781;epid=1234567890\r\n'
    "To: <sip:gabriel@ocs.provo.novell.com>;tag=B816D65C2300A32CFA6D371F2AF537FD\r\n"
    "Call-ID: 8592g5DCBa1694i5887m0D0Bt2247b3F38xAE9Fx\r\nCSeq: 3 REGISTER\r\n"
    "Expires: 900\r\nContent-Length: 0\r\n\r\n")


def test_signature_strings_of_the_oc_and_novell_messages() -> None:
    req = parse_message(OC_REQUEST.encode())
    assert signature_string(incoming_signature_fields(req), 4) == (
        "<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local>"
        "<4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52>"
        "<sip:user@cosmo.local><><><><>")
    resp = parse_message(OC_RESPONSE.encode())
    assert signature_string(incoming_signature_fields(resp), 4) == (
        "<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local>"
        "<4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52>"
        "<sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>")
    novell = parse_message(NOVELL_200.encode())
    assert signature_string(incoming_signature_fields(novell), 2) == (
        "<NTLM><0878F41B><1><SIP Communications Service><ocs1.ocs.provo.novell.com>"
        "<8592g5DCBa1694i5887m0D0Bt2247b3F38xAE9Fx><3><REGISTER>"
        "<sip:gabriel@ocs.provo.novell.com><2947328781><B816D65C2300A32CFA6D371F2AF537FD>"
        "<900><200>")


def test_pai_fields_and_no_realm_means_no_signature() -> None:
    msg = parse_message(
        b"NOTIFY sip:a@b SIP/2.0\r\nFrom: sip:srv@b;tag=1\r\nTo: <sip:a@b>\r\n"
        b"P-Asserted-Identity: <sip:srv@b>, <tel:+123>\r\nCall-ID: c\r\nCSeq: 7 NOTIFY\r\n\r\n")
    fields = fields_from_message(msg, scheme="NTLM", rand="r", num="2", realm="R",
                                 target_name="T")
    assert fields.to_string(4) == "<NTLM><r><2><R><T><c><7><NOTIFY><sip:srv@b><1><sip:a@b><>" \
                                  "<sip:srv@b><tel:+123><>"
    assert signature_string(fields_from_message(msg, scheme="NTLM", rand="", num="", realm="",
                                                target_name=""), 4) is None
    assert incoming_signature_fields(msg) is None


def test_authentication_info_parsing() -> None:
    info = authentication_info(parse_message(OC_RESPONSE.encode()))
    assert info is not None
    assert (info.scheme, info.rspauth, info.srand, info.snum, info.opaque) == (
        "NTLM", "01000000E615438A917661BE64000000", "9616454F", "1", "2BDBAC9D")
    assert info.version is None
    tls = SipResponse(headers=(("Authentication-Info",
                                'TLS-DSK rspauth="ab", realm="r", version=4'),))
    dsk = authentication_info(tls)
    assert dsk is not None and dsk.version == 4
    assert authentication_info(SipResponse()) is None
    with pytest.raises(SipProtocolError):
        authentication_info(SipResponse(headers=(("Authentication-Info", 'NTLM a="'),)))
