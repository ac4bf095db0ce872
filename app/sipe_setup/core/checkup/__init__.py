"""The trial sign-in (see :mod:`.runner`): steps, the runner, trust questions, diagnosis."""

from sipe_setup.core.checkup.options import CheckOptions
from sipe_setup.core.checkup.runner import CheckRun, run_check
from sipe_setup.core.checkup.trust import TrustDecider, TrustKind, TrustQuestion

__all__ = ["CheckOptions", "CheckRun", "TrustDecider", "TrustKind", "TrustQuestion", "run_check"]
