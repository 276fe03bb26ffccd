"""``extractor`` whose ledger stalls at a chosen line: a test's way to act at an exact moment.

``python -m tests.stalling_ledger MODE WHOLE SIGNAL -- batch ...`` runs the command as ``python
-m extractor`` would, except that after ``WHOLE`` lines the ledger's next write stalls and
creates the file ``SIGNAL``.  ``tear``: half the line's bytes are on disk and it waits to be
killed (a kill inside a write).  ``pause``: it waits until ``SIGNAL`` is removed, then writes
the line and goes on (the test acts meanwhile, e.g. kills a worker).  Only the ``os`` the ledger
module sees is wrapped; production code is unchanged, and its short-write loop asks for the rest.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from extractor.jobs import ledger

MODES = ("tear", "pause")


class _StallingOs:
    """``os`` for the ledger module: every call as usual, but one write stalls."""

    def __init__(self, mode: str, whole: int, signal: Path) -> None:
        self._mode = mode
        self._whole = whole
        self._signal = signal

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: bytes) -> int:
        self._whole -= 1
        if self._whole != -1:
            return os.write(fd, data)
        if self._mode == "tear":
            written = os.write(fd, data[: len(data) // 2])
            self._signal.touch()
            time.sleep(3600)  # killed here, with the line torn
            return written
        self._signal.touch()
        while self._signal.exists():
            time.sleep(0.01)
        return os.write(fd, data)


def main(argv: list[str]) -> None:
    mode, whole, signal, separator, *command = argv
    if mode not in MODES or separator != "--":
        raise SystemExit("usage: python -m tests.stalling_ledger tear|pause WHOLE SIGNAL -- COMMAND...")
    ledger.os = _StallingOs(mode, int(whole), Path(signal))  # type: ignore[assignment]
    from extractor.cli import main as extractor

    sys.exit(extractor(command))


if __name__ == "__main__":
    main(sys.argv[1:])
