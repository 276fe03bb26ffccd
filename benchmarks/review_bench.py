"""How fast the review page moves between records.

    python -m benchmarks.review_bench [--letters ../shared/letters] [--pause 2] [--rounds 5]

Extracts the letters (rules backend) into a batch and serves it on 127.0.0.1.  First, over
HTTP as the page asks, the record with the most items and each of its page images: on a fresh
server (the letter read and its characters boxed, the pages rendered), then again (cached);
medians of ``--rounds``.  Then headless Chromium (Debian's ``chromium``) walks the queue with
``j``, pausing ``--pause`` seconds on each record as a reader does (the page fetches the next
record meanwhile), and times each ``j`` until the next record's pages are all shown.  Asserts
nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from extractor.jobs import BatchOptions, expand, run_batch
from extractor.review.batch import read_batch
from support.review_server import serving

ALL_SHOWN = "() => [...document.querySelectorAll('.page img')].every((img) => img.complete)"


def _seconds(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        response.read()
    return time.perf_counter() - started


def _server_round(records: Path, index: int, pages: int) -> tuple[float, ...]:
    """(record, all pages) on a fresh server, then (record, all pages) again."""
    with serving(records) as url:
        record = url + f"api/records/{index}"
        images = [url + f"api/records/{index}/pages/{page}.png" for page in range(pages)]
        first = _seconds(record), sum(_seconds(image) for image in images)
        again = _seconds(record), sum(_seconds(image) for image in images)
    return (*first, *again)


def _walk(records: Path, pause: float) -> list[float]:
    """Seconds from each ``j`` to the next record's pages all shown."""
    with serving(records) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        tab = browser.new_page(viewport={"width": 1500, "height": 950})
        tab.goto(url)
        tab.wait_for_selector("#queue li.current")
        tab.wait_for_function(ALL_SHOWN)
        times = []
        for _ in range(tab.locator("#queue li").count() - 1):
            current = tab.locator("#queue li.current").get_attribute("data-index")
            tab.wait_for_timeout(pause * 1000)
            started = time.perf_counter()
            tab.keyboard.press("j")
            tab.wait_for_function(
                f"() => document.querySelector('#queue li.current').dataset.index !== '{current}'"
            )
            tab.wait_for_function(ALL_SHOWN)
            times.append(time.perf_counter() - started)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--letters", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "letters"
    )
    parser.add_argument("--pause", type=float, default=2.0, help="seconds on each record (default 2)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run_batch(expand([str(args.letters.resolve())]), BatchOptions(out=Path(folder), backend="rules"))
        records = Path(folder) / "records.jsonl"
        batch = read_batch(records)
        index = max(range(len(batch)), key=lambda i: len(batch[i].determination.items))
        biggest, pages = batch[index], batch[index].document.pages or 0
        rounds = [_server_round(records, index, pages) for _ in range(args.rounds)]
        walk = sorted(_walk(records, args.pause))
    ms = [statistics.median(column) * 1000 for column in zip(*rounds, strict=True)]
    items = len(biggest.determination.items)
    print(f"{biggest.document.id}: {items} items, {pages} pages; medians of {args.rounds} fresh servers")
    print(f"  first open: record {ms[0]:.0f} ms, its {pages} pages {ms[1]:.0f} ms")
    print(f"  again:      record {ms[2]:.0f} ms, its {pages} pages {ms[3]:.0f} ms")
    median, p90, slowest = (
        seconds * 1000 for seconds in (statistics.median(walk), walk[int(len(walk) * 0.9)], walk[-1])
    )
    print(f"j through {len(batch)} records in Chromium, {args.pause:g} s on each:")
    print(
        f"  to the next record's pages shown: median {median:.0f} ms, "
        f"90th percentile {p90:.0f} ms, slowest {slowest:.0f} ms"
    )


if __name__ == "__main__":
    main()
