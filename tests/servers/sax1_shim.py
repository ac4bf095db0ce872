"""Build the test-only libxml2 SAX1 shim (``sax1_shim.c``) for ``LD_PRELOAD`` into finch.

pidgin-sipe cannot parse XML with Debian 12's libxml2 (reference tls-dsk.md §0.1; the product
detects it with ``sipe_setup.core.sipe_xml_probe``). Tests that need real SIPE to read XML
(TLS-DSK) preload this shim into finch only. It is compiled with gcc at test time into a
per-user cache directory keyed by the source's hash, so it is built once per change.

Never part of the product.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("sax1_shim.c")
LIBXML2_HEADER = "libxml/parser.h"


class ShimBuildError(RuntimeError):
    """gcc or the libxml2 headers are missing, or the shim did not compile."""


def libxml2_cflags() -> list[str] | None:
    """Compiler flags for libxml2's headers, or None when they are not installed."""
    candidates: list[str] = []
    if shutil.which("xml2-config"):
        out = subprocess.run(["xml2-config", "--cflags"], capture_output=True, text=True,
                             check=False, timeout=10)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    candidates.append("-I/usr/include/libxml2")
    for flags in candidates:
        parts = flags.split()
        dirs = [p[2:] for p in parts if p.startswith("-I")]
        if any((Path(d) / LIBXML2_HEADER).is_file() for d in dirs):
            return parts
    return None


def _private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can write (it will hold an LD_PRELOAD library)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
            or info.st_mode & 0o022):
        raise ShimBuildError(f"{path} is not a private directory of this user; remove it")
    return path


def cache_dir() -> Path:
    """Where built shims live: ``$TMPDIR/sipe-setup-tests-<uid>/``."""
    return _private_dir(Path(tempfile.gettempdir()) / f"sipe-setup-tests-{os.getuid()}")


def build_sax1_shim(directory: Path | None = None) -> Path:
    """Path of the compiled shim; compiles it with gcc when this source was not built yet.

    Raises :class:`ShimBuildError` when gcc or the libxml2 headers are missing or the build
    fails (tests call :func:`require_sax1_shim`, which turns that into a CI failure).
    """
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target_dir = _private_dir(directory) if directory is not None else cache_dir()
    target = target_dir / f"sax1_shim-{digest}.so"
    if target.is_file():
        return target
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ShimBuildError("gcc is not installed")
    cflags = libxml2_cflags()
    if cflags is None:
        raise ShimBuildError("the libxml2 headers are not installed (libxml2-dev)")
    fd, tmp_name = tempfile.mkstemp(prefix=".sax1_shim-", suffix=".so", dir=target_dir)
    os.close(fd)
    try:
        result = subprocess.run(
            [gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", *cflags,
             "-o", tmp_name, str(SOURCE), "-ldl"],
            capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise ShimBuildError(f"gcc failed to build {SOURCE.name}:\n{result.stderr}")
        os.replace(tmp_name, target)  # atomic: concurrent builders never see half a file
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def require_sax1_shim() -> Path:
    """The built shim; a missing gcc / libxml2-dev FAILS under CI=true and skips elsewhere
    (like every other external tool, see ``tests.conftest.require_tool``)."""
    from tests.conftest import require_tool

    require_tool("gcc")
    if libxml2_cflags() is None:
        require_tool("libxml2 headers (Debian package libxml2-dev)")
    return build_sax1_shim()


def preload_env(shim: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """``LD_PRELOAD`` with the shim first (keeping any preload already set in ``base``)."""
    existing = (base if base is not None else dict(os.environ)).get("LD_PRELOAD", "")
    return {"LD_PRELOAD": f"{shim} {existing}".strip()}
