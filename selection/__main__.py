"""``python -m selection`` runs the command line."""

import sys

from selection.cli import main

sys.exit(main())
