"""``extractor local-server``: serve a small model carried by PyPI packages (the [local] extra)."""

from __future__ import annotations

import argparse

from extractor.llm import local_server


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "local-server",
        help="serve a small local model at an OpenAI-compatible endpoint (needs [local])",
        description=local_server.__doc__,
    )
    local_server.add_arguments(parser)
    parser.set_defaults(func=local_server.run)
