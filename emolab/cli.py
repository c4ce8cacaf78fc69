"""The ``emolab`` command: jobs that run outside the notebooks.

Examples
--------
::

    emolab book                               # execute notebooks (smoke profile) and build the book
    emolab book -p profile=full -p data_root=/data/deap
    emolab export --student /tmp/course        # the notebooks without the exercises' solutions
    emolab data verify /data/deap --dataset deap
    emolab data verify-store ~/.cache/emolab/store/deap-0123456789abcdef
    emolab data synth --format deap --preset smoke --out /tmp/deap-synth --seed 0
    emolab sweep --chapter all                # chapters 05-09's grids, headless, here
    emolab sweep --chapter all --backend ray --address auto --gpus-per-cell 0.25 -p profile=full
    emolab sweep --config grid.yaml -p seed=1  # any grid (emolab.sweep_config)

Exit codes: 0 success, 1 an expected failure (a bad input file, a damaged store, a folder that
cannot be written: one line on stderr naming the file and the fix; ``--debug`` shows the
traceback instead), 2 a usage error (argparse).
"""

from __future__ import annotations

import argparse
import pickle
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


def _cmd_export(args: argparse.Namespace) -> int:
    from emolab.exercises import export_student
    from emolab.paths import find_project_root

    project = Path(args.project) if args.project else find_project_root()
    removed = export_student(project / "notebooks", args.student)
    logger.info("wrote %d notebooks without their %d solution cells to %s",
                len(removed), sum(removed.values()), args.student)  # fmt: skip
    return 0


def _cmd_data_verify(args: argparse.Namespace) -> int:
    from emolab.data.manifest import verify_dataset

    report = verify_dataset(Path(args.root), dataset=args.dataset)
    print(report.format())
    return 0 if report.ok else 1


def _cmd_data_verify_store(args: argparse.Namespace) -> int:
    from emolab.store import SegmentStore

    store = SegmentStore(args.store, check=False)
    problems = store.check(full=not args.quick)
    subjects = store.subjects
    print(f"segment store {store.path}: {len(subjects)} subject(s), "
          + ("OK" if not problems else f"{len(problems)} problem(s)")
          + (" (quick check: sizes, times, headers, sampled checksums)" if args.quick else " (full check: checksums)"))  # fmt: skip
    for p in problems:
        print(f"  PROBLEM  {p}")
    ok_subjects = sorted(set(subjects) - {p.subject for p in problems})
    skipped = store.skipped(ok_subjects) if ok_subjects else None
    if skipped is not None and len(skipped):
        print(f"  skipped while building ({len(skipped)}):")
        for row in skipped.itertuples():
            print(f"    subject {row.subject}: {row.path}: {row.what}: {row.reason}")
    if problems:
        print("  fix: run build_store (or prepare_segments) again, which rebuilds those subjects, "
              f"or delete {store.path}")
    return 1 if problems else 0


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from emolab.data.synthetic import ensure_synthetic

    root = ensure_synthetic(fmt=args.format, preset=args.preset, seed=args.seed, root=args.out, n_jobs=args.jobs)
    print(root)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    import time

    from emolab import experiments as ex
    from emolab.sweep_config import chapter_grids, load_grid_file, run_parameters, sweep_cells
    from emolab.train.results import finished_cells, load_results
    from emolab.train.sweep import run_sweep

    if (args.chapter is None) == (args.config is None):
        raise ValueError("give either --chapter NAME or --config FILE (what grid to run)")
    grids = chapter_grids(args.chapter) if args.chapter else load_grid_file(args.config)
    params = run_parameters(dict(args.parameter))
    profile = ex.get_profile(params["profile"])
    path = Path(args.results) if args.results else ex.default_results_path(profile)
    local = args.backend == "local"
    if local and (args.address or args.cpus_per_cell is not None or args.gpus_per_cell is not None):
        raise ValueError("--address, --cpus-per-cell and --gpus-per-cell need --backend ray")
    if not local and args.jobs is not None:
        raise ValueError("--jobs is for --backend local; on Ray the cluster's free resources decide")
    cells = sweep_cells(grids, profile=profile, data_root=params["data_root"], seed=params["seed"],
                        device=params["device"], verbose="WARNING")  # fmt: skip
    before = len(finished_cells(path) & {c.cell_id for c in cells})
    resources = {k: v for k, v in (("num_cpus", args.cpus_per_cell), ("num_gpus", args.gpus_per_cell))
                 if v is not None} or None  # fmt: skip
    t0 = time.perf_counter()
    failed = None
    try:
        with ex.torch_threads(profile.torch_threads if local else None):
            run_sweep(cells, path, n_jobs=profile.n_jobs if args.jobs is None else args.jobs, backend=args.backend,
                      address=args.address, resources=None if local else resources, progress=True)  # fmt: skip
    except RuntimeError as exc:  # some cells failed; the others are in the table
        failed = exc
    seconds = time.perf_counter() - t0
    done = finished_cells(path) & {c.cell_id for c in cells}
    print(f"sweep: {len(cells)} cells ({profile.name} profile, {args.backend} backend): {before} already "
          f"done, {len(done) - before} run now in {seconds:.1f} s, {len(cells) - len(done)} missing; "
          f"results in {path}")  # fmt: skip
    if done:
        rows = load_results(path)
        rows = rows[rows["cell_id"].isin(done)].copy()
        # grids on different data (a control, chapter 09's sources) get rows of their own
        store_of = {c.cell_id: Path(str(c.data.get("kwargs", {}).get("store", ""))).name for c in cells}
        rows["store"] = rows["cell_id"].map(store_of).fillna("")
        by = ["model", "modalities", "task", "protocol"] + (["store"] if rows["store"].nunique() > 1 else [])
        summary = ex.summarize(rows, by=by)
        cols = [*by, "n_subjects", "accuracy", "majority_baseline"]
        print(summary[[c for c in cols if c in summary.columns]].round(3).to_string(index=False))
    if failed is not None:
        logger.error("%s", failed)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emolab", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", default="INFO", help="log level (DEBUG, INFO, WARNING)")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")  # fmt: skip
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

    sweep = sub.add_parser("sweep", help="run a chapter's grid (or a grid file) of cross-validation "
                           "cells headless, here or on a Ray cluster")  # fmt: skip
    sweep.add_argument("--chapter", metavar="NAME",
                       help="a grid of the registry emolab.experiments.GRIDS by name (unimodal, control, concat, "
                            "gated, fusion, results, fingerprint), or all")  # fmt: skip
    sweep.add_argument("--config", type=Path, help="a YAML grid file (see emolab.sweep_config)")
    sweep.add_argument(
        "-p", "--parameter", action="append", default=[], type=_parse_parameter, metavar="KEY=VALUE",
        help="profile, data_root, seed or device, as in the notebooks (repeatable): the same "
             "values give the same cells, so the notebooks then only read them",
    )  # fmt: skip
    sweep.add_argument("--results", type=Path, help="results table (default: the profile's shared one)")
    sweep.add_argument("--backend", default="local", choices=["local", "ray"],
                       help="local worker processes, or one Ray task per cell")  # fmt: skip
    sweep.add_argument("--address", help="Ray cluster address (auto: the one `ray start` runs here)")
    sweep.add_argument("--jobs", type=int, help="local worker processes (default: the profile's)")
    sweep.add_argument("--cpus-per-cell", type=float, help="Ray: CPUs each cell's task asks for (default 1)")
    sweep.add_argument("--gpus-per-cell", type=float,
                       help="Ray: GPUs each cell's task asks for, fractions allowed (default: 1 "
                            "with -p device=cuda, else 0)")  # fmt: skip
    sweep.set_defaults(func=_cmd_sweep)

    export = sub.add_parser("export", help="write copies of the notebooks for students")
    export.add_argument("--student", type=Path, required=True, metavar="OUT",
                        help="folder for the notebooks without solution cells and outputs")  # fmt: skip
    export.add_argument("--project", help="the emolab checkout (default: found from the current folder)")
    export.set_defaults(func=_cmd_export)

    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    verify = data_sub.add_parser("verify", help="check a dataset folder against data_manifest.yaml")
    verify.add_argument("root", help="the dataset folder")
    verify.add_argument("--dataset", required=True, choices=["deap", "mahnob", "synthetic-deap", "synthetic-mahnob"])
    verify.set_defaults(func=_cmd_data_verify)
    vstore = data_sub.add_parser("verify-store", help="check a segment store against what was "
                                 "recorded when it was built (checksums of every file)")  # fmt: skip
    vstore.add_argument("store", type=Path, help="the store folder (<cache>/store/<dataset>-<key>)")
    vstore.add_argument("--quick", action="store_true",
                        help="only sizes, modification times, .npy headers and sampled checksums "
                             "(what opening checks)")  # fmt: skip
    vstore.set_defaults(func=_cmd_data_verify_store)
    synth = data_sub.add_parser("synth", help="generate the synthetic dataset (DEAP or MAHNOB-HCI format)")
    synth.add_argument("--format", default="deap", choices=["deap", "mahnob"], help="on-disk format")
    synth.add_argument("--preset", default="smoke", choices=["smoke", "deap"], help="sizes (deap = the real ones)")
    synth.add_argument("--out", type=Path, help="folder to create (default: emolab's cache, named by a hash)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (same seed -> identical files)")
    synth.add_argument("--jobs", type=int, default=1, help="participants generated in parallel processes")
    synth.set_defaults(func=_cmd_data_synth)
    return parser


#: What a command may raise because of its inputs (not a bug): reported in one line, exit 1.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, pickle.UnpicklingError,
                                                   ImportError)  # an optional extra not installed


def error_line(exc: BaseException) -> str:
    """One line for an expected error: its message (which names the file and the fix), with the
    path and a fix added for bare operating-system errors."""
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    msg = " ".join(str(msg).split())  # one line
    if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in msg:
        msg = f"{exc.filename}: {msg}"
    if isinstance(exc, OSError) and exc.strerror and msg.endswith(exc.strerror + f": '{exc.filename}'"):
        msg = f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, PermissionError):
        msg += "; check that you may write there, or choose another folder (e.g. --out)"
    elif isinstance(exc, (NotADirectoryError, IsADirectoryError, FileExistsError)):
        msg += "; choose another path"
    elif type(exc) is OSError and exc.errno is not None:
        msg += "; check the path and the free disk space"
    return msg or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command; expected errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    set_log_level(args.verbose)
    try:
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as exc:
        if args.debug:
            raise
        print(f"emolab: error: {error_line(exc)} (--debug shows the traceback)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("emolab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
