"""An OpenAI-compatible endpoint on 127.0.0.1 with a fixed latency: ``extractor.testing``'s.

Each answer is what a perfect model would say (the rules pass's reading of the letter in the
request), so a batch's cross-check does its full work.  The server, its scripted faults and the
perfect model live in :mod:`extractor.testing`; this module is kept as the benchmark's command:

    python -m benchmarks.fake_openai --latency 1.0     # prints its base URL, serves until killed
"""

from __future__ import annotations

from extractor.testing import FakeOpenAI, main, perfect, perfect_completion

__all__ = ["FakeOpenAI", "main", "perfect", "perfect_completion"]

if __name__ == "__main__":
    main()
