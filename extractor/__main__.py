"""``python -m extractor`` is the ``extractor`` command."""

import sys

from extractor.cli import main

sys.exit(main())
