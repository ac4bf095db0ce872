"""libpurple's ``tls_peers`` pool: certificates the user chose to trust, one file per host."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from sipe_setup.core.export.pidgin.model import TrustedCertificate
from sipe_setup.core.fileio import ensure_private_dir, write_atomic

__all__ = ["tls_peer_file_name", "tls_peers_dir", "write_trusted_certificates"]


def tls_peer_file_name(host: str) -> str:
    """The file name libpurple's x509 ``tls_peers`` pool uses for ``host``.

    ``purple_certificate_pool_mkpath`` escapes the id with ``purple_escape_filename``: ASCII
    letters, digits and ``@-_.#`` stay, every other byte of the UTF-8 form becomes ``%xx``
    (lower-case hex); on Windows a trailing ``.`` becomes ``%2e`` as well.
    """
    if not host:
        raise ValueError("the certificate's host name is empty")
    out: list[str] = []
    for ch in host:
        if ch.isascii() and (ch.isalnum() or ch in "@-_.#"):
            out.append(ch)
        else:
            out.extend(f"%{byte:02x}" for byte in ch.encode("utf-8"))
    name = "".join(out)
    if sys.platform == "win32" and name.endswith("."):
        name = name[:-1] + "%2e"
    return name



def tls_peers_dir(purple_dir: Path) -> Path:
    return purple_dir / "certificates" / "x509" / "tls_peers"


def write_trusted_certificates(
    purple_dir: Path, trusted: Sequence[TrustedCertificate], names: Sequence[str]
) -> tuple[list[Path], list[str]]:
    """Write each certificate as ``tls_peers/<names[i]>``; returns (files, notes for the user).

    ``names`` come from :func:`tls_peer_file_name`, computed by the caller before anything is
    written so that a bad host name refuses the whole export.
    """
    files: list[Path] = []
    notes: list[str] = []
    peers = tls_peers_dir(purple_dir)
    for certificate, name in zip(trusted, names, strict=True):
        ensure_private_dir(peers)
        path = peers / name
        write_atomic(path, certificate.pem.encode("utf-8"))
        files.append(path)
        notes.append(
            f"Pidgin will trust the certificate the check relied on for {certificate.host} "
            f"(accepted by you, or trusted through an extra CA file Pidgin does not know) "
            f"without asking ({path})."
        )
    return files, notes
