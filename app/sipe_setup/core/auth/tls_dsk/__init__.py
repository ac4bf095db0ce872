"""TLS-DSK ([MS-SIPAE] §3.2.5), client side, exactly as SIPE 1.25.0 runs it.

- :mod:`.records`: TLS records and the server's flights, parsed with SIPE's acceptance rules;
  the failure categories (:class:`TlsDskFailure`) and errors.
- :mod:`.crypto`: the cryptographic building blocks: the cipher-suite table
  (:class:`CipherSuite`), the TLS 1.0 PRF, master secret and key block, the derivation of the two
  signing keys, handshake digests and Finished ``verify_data``, record protection, and raw RSA
  with hand-built PKCS#1 blocks. Pure functions, no state.
- :mod:`.tls10`: the handshake-only TLS 1.0 client (:class:`TlsDskHandshake`): the ClientHello
  and the state machine that drives :mod:`.crypto` through SIPE's handshake.
- :mod:`.authenticator`: :class:`TlsDskSipAuthenticator`, the REGISTER-pipeline state machine.

Certificate provisioning (web ticket, GetAndPublishCert) happens before and elsewhere; this
package starts with a DER certificate and its RSA key.
"""

from sipe_setup.core.auth.tls_dsk.authenticator import TlsDskSipAuthenticator
from sipe_setup.core.auth.tls_dsk.crypto import CipherSuite
from sipe_setup.core.auth.tls_dsk.records import (
    TlsAlert,
    TlsDskFailure,
    TlsDskHandshakeError,
    TlsDskUsageError,
)
from sipe_setup.core.auth.tls_dsk.tls10 import TlsDskHandshake

__all__ = [
    "CipherSuite",
    "TlsAlert",
    "TlsDskFailure",
    "TlsDskHandshake",
    "TlsDskHandshakeError",
    "TlsDskSipAuthenticator",
    "TlsDskUsageError",
]
