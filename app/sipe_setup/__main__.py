"""Allow ``python -m sipe_setup``."""

import sys

from sipe_setup.cli import main

sys.exit(main())
