"""NTLM against the vectors of [MS-NLMP] §4.2, davenport and SIPE's OC 2007 R2 capture (ref. §6)."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipe_setup.core.account import NtlmIdentity, Secret
from sipe_setup.core.auth.errors import AuthProtocolError, UnsupportedChallengeError
from sipe_setup.core.auth.ntlm import (
    NEGOTIATE_FLAGS_CONNLESS,
    AvId,
    NtlmClient,
    NtlmFlags,
    NtlmProtocolError,
    NtlmSessionKeys,
    NtlmUnsupportedChallenge,
    NtlmVersion,
    encode_av_pairs,
    negotiate_flags,
    ntlm_mac,
    ntlmv2_response,
    ntowf_v1,
    ntowf_v2,
    parse_authenticate,
    parse_av_pairs,
    parse_challenge,
    seal_key,
    sign_key,
    utf16_upper,
)
from sipe_setup.core.auth.rc4 import rc4

F = NtlmFlags
PASSWORD = Secret("Password")
SERVER_CHALLENGE = bytes.fromhex("0123456789abcdef")
CLIENT_CHALLENGE = b"\xaa" * 8
RANDOM_SESSION_KEY = b"\x55" * 16
PLAINTEXT = "Plaintext".encode("utf-16-le")


def h(data: bytes) -> str:
    return data.hex().upper()


# --- MS-NLMP §4.2.2 (NTLMv1) and §4.2.3 (ESS): what applies to an NTLMv2-only client --------


def test_ntowf_v1() -> None:
    assert h(ntowf_v1(PASSWORD)) == "A4F49C406510BDCAB6824EE7C30FD852"


def test_ms_nlmp_v1_flags_value() -> None:
    flags = (F.KEY_EXCH | F.NEGOTIATE_56 | F.NEGOTIATE_128 | F.VERSION | F.TARGET_TYPE_SERVER
             | F.ALWAYS_SIGN | F.NTLM | F.SEAL | F.SIGN | F.OEM | F.UNICODE)
    assert flags == 0xE2028233


def test_ess_sign_and_seal_keys_and_mac() -> None:
    flags = (F.NEGOTIATE_56 | F.VERSION | F.EXTENDED_SESSIONSECURITY | F.TARGET_TYPE_SERVER
             | F.ALWAYS_SIGN | F.NTLM | F.SEAL | F.SIGN | F.OEM | F.UNICODE)
    assert flags == 0x820A8233
    kxkey = bytes.fromhex("EB93429A8BD952F8B89C55B87F475EDC")
    client_sign = sign_key(kxkey, True)
    client_seal = seal_key(flags, kxkey, True)  # 56-bit: 7 key bytes
    assert h(client_sign) == "60E799BE5C72FC92922AE8EBE961FB8D"
    assert h(client_seal) == "04DD7F014D8504D265A25CC86A3A7C06"
    assert h(rc4(client_seal, PLAINTEXT)) == "A02372F6530273F3AA1EB90190CE5200C99D"
    # Connection-oriented, no KEY_EXCH: the checksum is the plain HMAC prefix.
    mac = ntlm_mac(PLAINTEXT, flags=flags, sign_key=client_sign, seal_key=client_seal, seq=0)
    assert h(mac) == "01000000FF2AEB52F681793A00000000"


def test_v1_seal_then_sign_stream_with_crc32() -> None:
    # §4.2.2.4 seals, then signs on the *same* RC4 stream; our connectionless MAC always starts
    # a fresh stream, so this checks the building blocks (RC4 + CRC32 trailer) only.
    crc = 0x93AA847D
    out = rc4(RANDOM_SESSION_KEY, PLAINTEXT + struct.pack("<III", 0, crc, 0))
    assert h(out) == "56FE04D861F9319AF0D7238A2E3B4D457FB8" "45C844E5" "09DCD1DF" "2E459D36"


# --- MS-NLMP §4.2.4 (NTLMv2) -------------------------------------------------------------------

V2_TARGET_INFO = bytes.fromhex(
    "02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")


def test_ntlmv2_vector() -> None:
    key = ntowf_v2(PASSWORD, "User", "Domain")
    assert h(key) == "0C868A403BFD7A93A3001EF22EF02E3F"
    resp = ntlmv2_response(key, SERVER_CHALLENGE, CLIENT_CHALLENGE, 0, V2_TARGET_INFO)
    assert h(resp.lm_response) == "86C35097AC9CEC102554764A57CCCC19AAAAAAAAAAAAAAAA"
    assert h(resp.nt_proof_str) == "68CD0AB851E51C96AABC927BEBEF6A1C"
    assert h(resp.nt_response) == (
        "68CD0AB851E51C96AABC927BEBEF6A1C01010000000000000000000000000000AAAAAAAAAAAAAAAA"
        "0000000002000C0044006F006D00610069006E0001000C005300650072007600650072000000000000"
        "000000")
    assert h(resp.session_base_key) == "8DE40CCADBC14A82F15CB0AD0DE95CA3"
    assert h(rc4(resp.session_base_key, RANDOM_SESSION_KEY)) == \
        "C5DAD2544FC9799094CE1CE90BC9D03E"


def test_ntlmv2_keys_and_mac() -> None:
    flags = (F.KEY_EXCH | F.NEGOTIATE_56 | F.NEGOTIATE_128 | F.VERSION | F.TARGET_INFO
             | F.EXTENDED_SESSIONSECURITY | F.TARGET_TYPE_SERVER | F.ALWAYS_SIGN | F.NTLM
             | F.SEAL | F.SIGN | F.OEM | F.UNICODE)
    assert flags == 0xE28A8233
    keys = NtlmSessionKeys.derive(flags, RANDOM_SESSION_KEY)
    assert h(keys.client_sign) == "4788DC861B4782F35D43FD98FE1A2D39"
    assert h(keys.client_seal) == "59F600973CC4960A25480A7C196E4C58"
    assert h(rc4(keys.client_seal, PLAINTEXT)) == "54E50165BF1936DC996020C1811B0F06FB5F"
    mac = ntlm_mac(PLAINTEXT, flags=flags & ~F.KEY_EXCH, sign_key=keys.client_sign,
                   seal_key=keys.client_seal, seq=0)
    assert h(mac) == "0100000070352851F256430900000000"


def test_ms_nlmp_v2_type3_parses() -> None:
    raw = bytes.fromhex(
        "4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054"
        "000000100010005c00000010001000d8000000358288e20501280a0000000f44006f006d0061006900"
        "6e00550073006500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc"
        "19aaaaaaaaaaaaaaaa68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000"
        "aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c00530065007200760065"
        "0072000000000000000000c5dad2544fc9799094ce1ce90bc9d03e")
    msg = parse_authenticate(raw)
    assert (msg.domain, msg.user, msg.workstation) == ("Domain", "User", "COMPUTER")
    assert msg.flags == 0xE2888235
    assert h(msg.encrypted_session_key) == "C5DAD2544FC9799094CE1CE90BC9D03E"
    assert msg.version == NtlmVersion(5, 1, 2600, 15)


# --- davenport ---------------------------------------------------------------------------------


def test_davenport_ntlm1_signing_with_random_pad() -> None:
    sk = bytes([0x01, 0x02, 0x03, 0x04, 0x05, 0xE5, 0x38, 0xB0])
    flags = NEGOTIATE_FLAGS_CONNLESS & ~F.EXTENDED_SESSIONSECURITY
    mac = ntlm_mac(b"jCIFS", flags=flags, sign_key=sk, seal_key=sk, seq=0,
                   random_pad=0x00090178)
    assert h(mac) == "0100000078010900397420FE0E5A0F89"


def test_davenport_ntlm2_signkey_and_mac_without_key_exchange() -> None:
    master = bytes(range(1, 16)) + b"\x00"
    client_sign = sign_key(master, True)
    assert h(client_sign) == "F7F97A82EC390F9C903DAC4F6ACEB132"
    flags = 0xE28A8233 & ~F.KEY_EXCH
    mac = ntlm_mac(b"jCIFS", flags=flags, sign_key=client_sign, seal_key=client_sign, seq=0)
    assert h(mac) == "010000000A003602317A759A00000000"


# --- SIP-level ---------------------------------------------------------------------------------


def test_v2_sip_signature_without_ess_uses_seq_100() -> None:
    text = ("<NTLM><0878F41B><1><SIP Communications Service><ocs1.ocs.provo.novell.com>"
            "<8592g5DCBa1694i5887m0D0Bt2247b3F38xAE9Fx><3><REGISTER>"
            "<sip:gabriel@ocs.provo.novell.com><2947328781><B816D65C2300A32CFA6D371F2AF537FD>"
            "<900><200>")
    key = bytes.fromhex("5F029153BC025058969548615E7099BA")
    flags = NEGOTIATE_FLAGS_CONNLESS & ~F.EXTENDED_SESSIONSECURITY
    mac = ntlm_mac(text.encode(), flags=flags, sign_key=key, seal_key=key, seq=100)
    assert h(mac) == "0100000000000000BF2E52667DDF6DED"


OC_TYPE2 = bytes.fromhex(
    "4E544C4D53535000020000000000000038000000F38298E2DD1BAAF4E7E218D100000000000000009600960038"
    "0000000502CE0E0000000F02000A0043004F0053004D004F000100180043004F0053004D004F002D004F004300"
    "53002D00520032000400160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D"
    "006F002D006F00630073002D00720032002E0063006F0073006D006F002E006C006F00630061006C0005001600"
    "63006F0073006D006F002E006C006F00630061006C0000000000")
OC_TYPE3 = bytes.fromhex(
    "4E544C4D53535000030000001800180072000000C600C6008A0000000A000A0048000000080008005200000018"
    "0018005A0000001000100050010000558298620502CE0E0000000F43004F0053004D004F005500730065007200"
    "43004F0053004D004F002D004F00430053002D0052003200A1E92EFE4E078BF7C5C0049ACC6166C2D6AE875CB0"
    "FDAA418DC0C800AE76ECA606D2B9FBEBD04731010100000000000059519A1727B9CA01D6AE875CB0FDAA410000"
    "000002000A0043004F0053004D004F000100180043004F0053004D004F002D004F00430053002D005200320004"
    "00160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F002D006F006300"
    "73002D00720032002E0063006F0073006D006F002E006C006F00630061006C000500160063006F0073006D006F"
    "002E006C006F00630061006C00000000000000000031CB739E1CA80A498591E8AE797115E4")
OC_TIME = int.from_bytes(bytes.fromhex("59519A1727B9CA01"), "little")
OC_CLIENT_CHALLENGE = bytes.fromhex("D6AE875CB0FDAA41")
OC_ESK = bytes.fromhex("6742FBE37BB1946B49D86A525BD29A9B")
OC_REQUEST_SIG = (
    "<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local>"
    "<4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52>"
    "<sip:user@cosmo.local><><><><>")
OC_RESPONSE_SIG = (
    "<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local>"
    "<4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52>"
    "<sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>")


def oc_client() -> NtlmClient:
    randoms = [OC_CLIENT_CHALLENGE, OC_ESK]
    return NtlmClient(NtlmIdentity("User", "COSMO"), Secret("Pa$$word"), "cosmo-ocs-r2",
                      getrandbytes=lambda n: randoms.pop(0), now_filetime=lambda: OC_TIME,
                      version=NtlmVersion(5, 2, 3790, 0x0F))


def test_oc2007r2_challenge_parses() -> None:
    ch = parse_challenge(OC_TYPE2)
    assert ch.flags == 0xE29882F3
    assert h(ch.server_challenge) == "DD1BAAF4E7E218D1"
    assert ch.target_name == ""
    assert ch.timestamp is None
    assert ch.av_text(AvId.NB_DOMAIN_NAME) == "COSMO"
    assert ch.av_text(AvId.NB_COMPUTER_NAME) == "COSMO-OCS-R2"
    assert ch.av_text(AvId.DNS_COMPUTER_NAME) == "cosmo-ocs-r2.cosmo.local"
    assert ch.av_text(AvId.DNS_TREE_NAME) == "cosmo.local"
    assert negotiate_flags(ch.flags) == 0x62988255


def test_oc2007r2_type3_byte_for_byte_and_signatures() -> None:
    result = oc_client().authenticate(OC_TYPE2)
    assert result.message == OC_TYPE3
    assert result.flags == 0x62988255
    assert h(result.keys.exported_session_key) == h(OC_ESK)
    client = result.keys.signer(client_to_server=True)
    server = result.keys.signer(client_to_server=False)
    assert client.sign_hex(OC_REQUEST_SIG) == "0100000029618E9651B65A7764000000"
    assert server.sign_hex(OC_RESPONSE_SIG) == "01000000E615438A917661BE64000000"
    assert server.verify(OC_RESPONSE_SIG, "01000000e615438a917661be64000000")
    assert not server.verify(OC_REQUEST_SIG, "01000000E615438A917661BE64000000")
    assert not client.verify(OC_REQUEST_SIG, "not hex")


def test_oc2007r2_ntproofstr_and_esk_recovery() -> None:
    key = ntowf_v2(Secret("Pa$$word"), "User", "COSMO")
    ch = parse_challenge(OC_TYPE2)
    resp = ntlmv2_response(key, ch.server_challenge, OC_CLIENT_CHALLENGE, OC_TIME,
                           ch.target_info)
    assert h(resp.nt_proof_str) == "8DC0C800AE76ECA606D2B9FBEBD04731"
    encrypted = bytes.fromhex("31CB739E1CA80A498591E8AE797115E4")
    assert rc4(resp.session_base_key, encrypted) == OC_ESK


def test_workstation_is_upper_case_and_repr_hides_password() -> None:
    client = oc_client()
    assert client.workstation == "COSMO-OCS-R2"
    assert "Pa$$word" not in repr(client)
    keys = client.authenticate(OC_TYPE2).keys
    assert OC_ESK.hex() not in repr(keys).lower()
    assert utf16_upper("straße") == "STRAßE"


# --- refusal and robustness --------------------------------------------------------------------


@pytest.mark.parametrize("missing", [F.UNICODE, F.NTLM, F.ALWAYS_SIGN,
                                     F.EXTENDED_SESSIONSECURITY, F.TARGET_INFO, F.SIGN,
                                     F.DATAGRAM, F.IDENTIFY, F.KEY_EXCH])
def test_challenge_without_a_required_flag_is_refused(missing: NtlmFlags) -> None:
    with pytest.raises(NtlmUnsupportedChallenge) as info:
        negotiate_flags(0xE29882F3 & ~missing)
    assert info.value.missing == missing
    assert isinstance(info.value, UnsupportedChallengeError)
    assert str(missing.name) in str(info.value)


def test_56_is_kept_without_128() -> None:
    flags = negotiate_flags(0xE29882F3 & ~F.NEGOTIATE_128)
    assert flags & F.NEGOTIATE_56
    assert flags & F.REQUEST_TARGET
    assert not flags & F.SEAL  # not in CONNLESS


def _with(data: bytes, offset: int, packed: bytes) -> bytes:
    return data[:offset] + packed + data[offset + len(packed):]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "too short"),
    (b"NTLMSSP\x00" + b"\x02\x00\x00\x00" + b"\x00" * 10, "too short"),
    (b"XTLMSSP\x00" + OC_TYPE2[8:], "no NTLMSSP signature"),
    (_with(OC_TYPE2, 8, struct.pack("<I", 3)), "type 3"),
    (_with(OC_TYPE2, 40, struct.pack("<HHI", 0x96, 0x96, 0xFFFF)), "outside the message"),
    (_with(OC_TYPE2, 12, struct.pack("<HHI", 3, 3, 56)), "odd UTF-16"),
    (OC_TYPE2[:-4], "outside the message"),
    (_with(OC_TYPE2, 40, struct.pack("<HHI", 8, 8, 56)), "overruns"),
    (_with(OC_TYPE2, 40, struct.pack("<HHI", 4, 4, 56 + 4)), "overruns"),
    (b"N" * 20000, "larger than"),
])
def test_malformed_challenges_raise_typed_errors(data: bytes, message: str) -> None:
    with pytest.raises(NtlmProtocolError, match=message) as info:
        parse_challenge(data)
    assert isinstance(info.value, AuthProtocolError)


def test_bad_timestamp_size_is_a_protocol_error() -> None:
    info = encode_av_pairs([(AvId.TIMESTAMP, b"\x00" * 4)])
    data = (b"NTLMSSP\x00" + struct.pack("<I", 2) + struct.pack("<HHI", 0, 0, 56)
            + struct.pack("<I", 0xE2998275) + b"\x01" * 8 + b"\x00" * 8
            + struct.pack("<HHI", len(info), len(info), 56) + b"\x00" * 8 + info)
    with pytest.raises(NtlmProtocolError, match="MsvAvTimestamp"):
        parse_challenge(data)


def test_av_pairs_round_trip() -> None:
    pairs = ((AvId.NB_DOMAIN_NAME, "X".encode("utf-16-le")), (AvId.TIMESTAMP, b"\x01" * 8))
    assert parse_av_pairs(encode_av_pairs(list(pairs))) == pairs


@given(st.binary(max_size=400))
def test_challenge_parser_raises_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(NtlmProtocolError):
        parse_challenge(data)


@given(st.binary(min_size=0, max_size=200), st.integers(0, len(OC_TYPE2) - 1))
def test_mutated_challenge_raises_only_protocol_errors(junk: bytes, pos: int) -> None:
    data = OC_TYPE2[:pos] + junk + OC_TYPE2[pos + len(junk):]
    try:
        ch = parse_challenge(data)
        _ = ch.timestamp
    except NtlmProtocolError:
        pass


@given(st.binary(max_size=400))
def test_authenticate_parser_raises_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(NtlmProtocolError):
        parse_authenticate(b"NTLMSSP\x00\x03\x00\x00\x00" + data)
