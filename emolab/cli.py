"""The ``emolab`` command: jobs that run outside the notebooks.

Examples
--------
::

    emolab book                               # execute notebooks (smoke profile) and build the book
    emolab book -p profile=full -p data_root=/data/deap
    emolab data verify /data/deap --dataset deap
    emolab data synth --format deap --preset smoke --out /tmp/deap-synth --seed 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from emolab._logging import logger, set_log_level


def _parse_parameter(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)  # "3" -> 3, "true" -> True, "smoke" -> "smoke"


def _cmd_book(args: argparse.Namespace) -> int:
    from emolab.book import BookError, build_book
    from emolab.paths import find_project_root

    project = Path(args.project) if args.project else find_project_root()
    try:
        report = build_book(project, out_dir=args.out, parameters=dict(args.parameter), only=args.only)
    except BookError as exc:
        logger.error("%s", exc)
        return 1
    total = sum(r.seconds for r in report.runs)
    for r in report.runs:
        logger.info("  %-40s %6.1f s", r.name, r.seconds)
    logger.info("executed %d notebooks in %.1f s; HTML in %s", len(report.runs), total, report.html_dir)
    return 0


def _cmd_data_verify(args: argparse.Namespace) -> int:
    from emolab.data.manifest import verify_dataset

    report = verify_dataset(Path(args.root), dataset=args.dataset)
    print(report.format())
    return 0 if report.ok else 1


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from emolab.data.synthetic import ensure_synthetic

    root = ensure_synthetic(fmt=args.format, preset=args.preset, seed=args.seed, root=args.out, n_jobs=args.jobs)
    print(root)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emolab", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", default="INFO", help="log level (DEBUG, INFO, WARNING)")
    sub = parser.add_subparsers(dest="command", required=True)

    book = sub.add_parser("book", help="execute the notebooks with papermill and build the book")
    book.add_argument("--project", help="the emolab checkout (default: found from the current folder)")
    book.add_argument("--out", type=Path, help="build into this folder instead of book/")
    book.add_argument(
        "-p", "--parameter", action="append", default=[], type=_parse_parameter, metavar="KEY=VALUE",
        help="papermill parameter for every notebook (repeatable), e.g. -p profile=full",
    )
    book.add_argument("--only", nargs="+", metavar="NN", help="run only notebooks starting with NN")
    book.set_defaults(func=_cmd_book)

    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    verify = data_sub.add_parser("verify", help="check a dataset folder against data_manifest.yaml")
    verify.add_argument("root", help="the dataset folder")
    verify.add_argument("--dataset", required=True, choices=["deap", "mahnob", "synthetic-deap", "synthetic-mahnob"])
    verify.set_defaults(func=_cmd_data_verify)
    synth = data_sub.add_parser("synth", help="generate the synthetic dataset (DEAP or MAHNOB-HCI format)")
    synth.add_argument("--format", default="deap", choices=["deap", "mahnob"], help="on-disk format")
    synth.add_argument("--preset", default="smoke", choices=["smoke", "deap"], help="sizes (deap = the real ones)")
    synth.add_argument("--out", type=Path, help="folder to create (default: emolab's cache, named by a hash)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (same seed -> identical files)")
    synth.add_argument("--jobs", type=int, default=1, help="participants generated in parallel processes")
    synth.set_defaults(func=_cmd_data_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_log_level(args.verbose)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
