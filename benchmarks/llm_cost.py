"""What the LLM pass cost per letter when its cassettes were recorded (printed; nothing asserted).

    python -m benchmarks.llm_cost [--cassettes DIR] [--model NAME]

Reads the recorded answers in evals/cassettes/<model>/: requests, prompt and completion tokens
per letter (median, mean, largest), and per kind of request (header, summary, item) from the
tool each answer calls.  The endpoint's own usage figures are summed, so this measures what the
model read and wrote, on any machine; seconds per letter are in the recording's progress lines.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from evals.cassettes import CASSETTES_DIR, model_slug
from extractor.llm import DEFAULT_MODEL


def answers(cassette: Path) -> list[dict[str, Any]]:
    """The chat completions recorded in ``cassette`` (answers that are not JSON are skipped)."""
    recorded = yaml.safe_load(cassette.read_text(encoding="utf-8")) or {}
    found = []
    for interaction in recorded.get("interactions", []):
        try:
            found.append(json.loads(interaction["response"]["body"]["string"]))
        except (KeyError, TypeError, ValueError):
            continue
    return found


def kind(answer: dict[str, Any]) -> str:
    calls = (answer.get("choices") or [{}])[0].get("message", {}).get("tool_calls") or []
    return calls[0]["function"]["name"] if calls else "content"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cassettes", type=Path, default=CASSETTES_DIR)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    folder = args.cassettes / model_slug(args.model)
    letters: list[tuple[int, int, int]] = []
    by_kind: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for cassette in sorted(folder.glob("*.yaml")):
        prompt = completion = 0
        recorded = answers(cassette)
        for answer in recorded:
            usage = answer.get("usage") or {}
            p, c = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
            prompt, completion = prompt + p, completion + c
            by_kind[kind(answer)].append((p, c))
        letters.append((len(recorded), prompt, completion))
    if not letters:
        raise SystemExit(f"no cassettes in {folder}")
    print(f"{len(letters)} letters recorded for {args.model} in {folder}")
    print("                 median     mean  largest")
    for name, column in (("requests", 0), ("prompt tokens", 1), ("completion tokens", 2)):
        values = [letter[column] for letter in letters]
        print(
            f"  {name:<17} {statistics.median(values):>6g} {statistics.mean(values):>8.1f} {max(values):>8}"
        )
    print("  per request kind: count, median prompt, median completion tokens")
    for name, usages in sorted(by_kind.items()):
        prompts, completions = zip(*usages, strict=True)
        middle = statistics.median(prompts), statistics.median(completions)
        print(f"    {name:<13} {len(usages):>5} {middle[0]:>8g} {middle[1]:>8g}")


if __name__ == "__main__":
    main()
