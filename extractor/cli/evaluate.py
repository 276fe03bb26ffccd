"""``extractor eval``: the command line of the eval harness, which lives in the repository's evals/.

The harness, its labels and its cassettes are repository tooling, not part of the installed
package: the command runs from a checkout (an editable install finds it beside the package, or
in the current directory) and says how to get one otherwise.  This is the one module of the
package that imports evals, and only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import extractor
from extractor.cli.options import EXIT_BAD_INPUT, add_llm_options, llm_config

DESCRIPTION = """\
Score backends against the hand-labelled fixtures in evals/fixtures/.

    extractor eval                                  # rules, offline
    extractor eval --backend hybrid                 # hybrid, and its rules and llm passes beside it
    extractor eval --backend rules,llm,hybrid       # LLM calls replay from evals/cassettes/
    extractor eval --backend hybrid --record        # call the endpoint for what is not recorded
    extractor eval --report out.json --baseline evals/reports/rules.json --min-accuracy 0.9

A hybrid score alone cannot say whether a change helped the rules or the model, so
--backend hybrid also scores the two passes it merges (they replay the same cassette); only
the backends asked for are judged by --min-accuracy and --baseline.

Exit status: 0 fine; 1 when a backend's overall accuracy is below --min-accuracy, a field
got worse than in --baseline, or an LLM call had no cassette; 2 on usage errors (no
documents root, unknown fixture id, no labels, no checkout).
"""

NO_CHECKOUT = (
    "extractor eval: the eval harness is repository tooling and is not installed with the package; "
    "run it from a checkout: git clone the repository, then pip install -e '.[dev]' in it"
)


def checkout() -> Path | None:
    """The checkout whose evals/ the command runs: the one beside the imported package (an
    editable install), else the current directory; None when neither is one."""
    for root in (Path(extractor.__file__).resolve().parent.parent, Path.cwd()):
        if (root / "evals" / "harness.py").is_file():
            return root
    return None


def _cmd_eval(args: argparse.Namespace) -> int:
    root = checkout()
    if root is None:
        print(NO_CHECKOUT, file=sys.stderr)
        return EXIT_BAD_INPUT
    if str(root) not in sys.path:  # a console script's path holds its bin/, not the checkout
        sys.path.insert(0, str(root))
    try:
        # The package's one import of evals (tests/test_architecture.py holds it to that).
        from evals.harness import run
    except ModuleNotFoundError as missing:  # vcrpy and the other dev tools
        print(f"extractor eval needs {missing.name}: pip install -e '.[dev]'", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run(args, lambda: llm_config(args))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval",
        help="score backends against the hand-labelled fixtures (from a checkout)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--backend",
        action="append",
        metavar="NAME",
        help="rules, llm or hybrid; repeat or comma-separate for several (default: rules)",
    )
    p.add_argument("--fixtures", metavar="DIR", help="labels folder (default: evals/fixtures)")
    p.add_argument(
        "--documents",
        metavar="DIR",
        help="folder with letters/ and seeds/ (default: $IMR_DOCUMENTS or ../shared)",
    )
    p.add_argument(
        "--only", nargs="+", metavar="ID", help="only these fixtures (document id or label file stem)"
    )
    p.add_argument("--report", metavar="FILE", help="write the JSON report here")
    p.add_argument(
        "--baseline",
        action="append",
        metavar="FILE",
        help="fail when a field's accuracy is lower than in this report (repeatable: one per backend)",
    )
    p.add_argument(
        "--min-accuracy", type=float, metavar="X", help="fail when a backend's overall accuracy < X"
    )
    p.add_argument(
        "--record",
        nargs="?",
        const="new_episodes",
        choices=["new_episodes", "all"],
        help="call the live endpoint: for requests not in the cassettes (new_episodes, the default) "
        "or for everything, rewriting the cassettes (all)",
    )
    p.add_argument("--cassettes", metavar="DIR", help="cassettes folder (default: evals/cassettes)")
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="first refit the confidence calibration (extractor/calibration.json) on the letters "
        "outside the check set, then score",
    )
    add_llm_options(p)
    p.set_defaults(func=_cmd_eval)
