"""``extractor review``: check a batch's records against their letters in a local web page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from extractor.cli.options import EXIT_OK, fail

LOOPBACK = "127.0.0.1"


def _cmd_review(args: argparse.Namespace) -> int:
    import getpass
    import secrets
    import threading
    import webbrowser

    from extractor.analytics.reviews import changes
    from extractor.review.batch import DocumentFinder, read_batch, records_file
    from extractor.review.corrections import CorrectionError, ReviewLogError, reviews_beside
    from extractor.review.labels import write_fixtures
    from extractor.review.server import ReviewApp, loopback, make_server

    if args.documents is not None and not args.documents.is_dir():
        return fail("review", f"--documents {args.documents} is not a folder")
    try:
        records_path = records_file(args.path)
        records = read_batch(records_path)
        log = reviews_beside(records_path)
    except FileNotFoundError as missing:
        return fail("review", missing)
    except (ValidationError, UnicodeDecodeError):
        return fail("review", f"{args.path} holds a line that is not a record")
    except ReviewLogError as error:
        return fail("review", error)
    finder = DocumentFinder(records_path.parent, args.documents)
    if args.to_fixtures is not None:
        try:
            written, skipped = write_fixtures(records, log, finder, args.to_fixtures)
        except CorrectionError as error:
            return fail("review", f"{log.path}: {error}")
        note = (
            f"; {len(skipped)} already labelled there, left as they are: {', '.join(skipped)}"
            if skipped
            else ""
        )
        print(f"extractor review: {written} reviewed records -> {args.to_fixtures}{note}", file=sys.stderr)
        return EXIT_OK
    host = args.host or LOOPBACK
    token = None if loopback(host) else secrets.token_urlsafe(24)
    if token is not None:
        print(f"extractor review: warning: serving on {host}: anyone who can reach it can read these letters "
              "and change the reviews, given the address below (its token)", file=sys.stderr)  # fmt: skip
    try:
        recovered = log.hold()
        server = make_server(
            ReviewApp(records, finder, log, args.reviewer or getpass.getuser()), host, args.port, token
        )
    except (ReviewLogError, OSError) as error:  # another server has the log; the port is taken
        log.close()
        return fail("review", error)
    if recovered is not None:
        print(f"extractor review: {recovered}", file=sys.stderr)
    port = server.server_address[1]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/" + (f"?token={token}" if token else "")
    print(
        f"extractor review: {len(records)} records from {records_path}, reviews in {log.path}",
        file=sys.stderr,
    )
    if corrections := sum(len(changes(log.reviews(record))) for record in records):
        print(f"extractor review: {corrections} corrections from {log.path.name} applied", file=sys.stderr)
    print(url, flush=True)
    if args.open:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C is how a reviewer stops the page: not a failure
        pass
    finally:
        server.server_close()
        log.close()
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("review", help="check records against their letters in a local web page")
    p.add_argument("path", type=Path, metavar="PATH", help="a batch output folder or its records.jsonl")
    p.add_argument("--documents", type=Path, metavar="DIR",
                   help="a folder to look in for the letters (by their sha256) when they are not "
                        "at the paths the records name or beside the records")  # fmt: skip
    p.add_argument(
        "--host", help=f"address to serve on (default {LOOPBACK}; any other is reachable by others)"
    )
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--open", action="store_true", help="open the page in the browser")
    p.add_argument("--reviewer", help="who the reviews are by (default: the user name)")
    p.add_argument(
        "--to-fixtures",
        type=Path,
        metavar="DIR",
        help="write each reviewed record as an eval fixture in DIR (e.g. evals/fixtures) and exit",
    )
    p.set_defaults(func=_cmd_review)
