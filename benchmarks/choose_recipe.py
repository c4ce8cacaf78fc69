"""Choose the CI profile's training recipe per architecture, without any test fold.

Runs :func:`emolab.experiments.search_recipe` (every candidate of
:data:`emolab.experiments.recipe.CANDIDATES` on the development seeds, trained on part of each
fold's training trials and scored after every epoch on the rest) and
:func:`emolab.experiments.choose_recipe`, then writes the evidence that ``book/recipe.md`` shows:

``book/recipe_search/curves.csv``
    every held-out score (seed, candidate, model, modalities, task, subject, fold, epoch);
``book/recipe_search/table.csv``
    mean held-out accuracy per model x candidate x epoch;
``book/recipe_search/choice.json``
    the recipe each architecture gets, which ``emolab.experiments.recipe.CHOSEN`` must equal
    (``tests/test_recipe.py`` checks it).

Usage::

    python benchmarks/choose_recipe.py                  # DEV_SEEDS, every candidate (about 20 min on 2 cores)
    python benchmarks/choose_recipe.py --seeds 100 --candidates plain --out /tmp/recipe
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from emolab.experiments import recipe

OUT = Path(__file__).resolve().parents[1] / "book" / "recipe_search"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(recipe.DEV_SEEDS))
    ap.add_argument("--candidates", nargs="+", default=list(recipe.CANDIDATES))
    ap.add_argument("--epochs", type=int, default=recipe.MAX_EPOCHS)
    ap.add_argument("--max-folds", type=int, default=1)
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    curves = recipe.search_recipe(seeds=args.seeds, candidates=args.candidates, epochs=args.epochs,
                                  max_folds=args.max_folds, n_jobs=args.n_jobs, verbose="INFO")  # fmt: skip
    seconds = time.perf_counter() - t0
    choice = recipe.choose_recipe(curves)
    args.out.mkdir(parents=True, exist_ok=True)
    curves.round(6).to_csv(args.out / "curves.csv", index=False)
    recipe.recipe_table(curves).round(6).to_csv(args.out / "table.csv", index=False)
    meta = {"seeds": args.seeds, "candidates": args.candidates, "epochs": args.epochs, "max_folds": args.max_folds,
            "search_seconds": round(seconds, 1), "choice": choice}  # fmt: skip
    (args.out / "choice.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
