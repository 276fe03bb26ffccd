"""Seconds a letter of hybrid asking only where the rules doubt, against asking every part
(printed; nothing asserted).

    python -m benchmarks.scope_bench --base-url http://127.0.0.1:8012/v1 [--every 9] [LETTERS_DIR]

Each letter is extracted alone, as ``extractor extract --backend hybrid`` does it, once with
``--llm-scope doubtful`` and then once with ``all``, against the same endpoint in the same run
(the doubtful pass first, so that any prompt cache it warms favours ``all``). Prints each letter's
seconds and requests, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from extractor import extract
from extractor.llm import LLMConfig
from extractor.schemas import Record
from extractor.scope import SCOPES, Scope


def timed(letter: Path, config: LLMConfig) -> tuple[float, Record]:
    started = time.perf_counter()
    record = extract(letter, backend="hybrid", llm_config=config, on_llm_error="keep_rules")
    return time.perf_counter() - started, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("letters", nargs="?", default="../shared/letters", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--every", type=int, default=9, help="every Nth letter by name (default 9)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    letters = sorted(args.letters.glob("*.pdf"))[:: args.every]
    base = LLMConfig(base_url=args.base_url, api_key="local", timeout=args.timeout)
    seconds: dict[Scope, list[float]] = {scope: [] for scope in SCOPES}
    for scope in SCOPES:
        config = base.model_copy(update={"scope": scope})
        for letter in letters:
            took, record = timed(letter, config)
            seconds[scope].append(took)
            print(
                f"{scope:8} {letter.name}: {took:7.1f} s, {record.provenance.requests} requests", flush=True
            )
    medians = {scope: statistics.median(values) for scope, values in seconds.items()}
    for scope in SCOPES:
        print(f"{scope:8} median {medians[scope]:.1f} s a letter, total {sum(seconds[scope]):.1f} s")
    print(
        f"doubtful/all: median {medians['doubtful'] / medians['all']:.3f}, "
        f"total {sum(seconds['doubtful']) / sum(seconds['all']):.3f} ({len(letters)} letters)"
    )


if __name__ == "__main__":
    main()
