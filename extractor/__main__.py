"""``python -m extractor`` is the ``extractor`` command."""

import sys

from extractor.cli import main

if __name__ == "__main__":  # a spawned worker process imports this module too: it must not rerun the command
    sys.exit(main())
