"""Choose the CI profile's training recipe per architecture, without any test fold.

Runs :func:`emolab.experiments.search_recipe` (every candidate of
:data:`emolab.experiments.recipe.CANDIDATES` on the development seeds, trained on part of each
fold's training trials and scored after every epoch on the rest) and
:func:`emolab.experiments.choose_recipe`, then writes the evidence that ``book/recipe.md`` shows:

``book/recipe_search/curves.csv``
    every held-out score (seed, candidate, model, modalities, task, subject, fold, epoch);
``book/recipe_search/table.csv``
    mean held-out accuracy per model x candidate x epoch;
``book/recipe_search/best.csv``
    each model x candidate's best epoch and its held-out accuracy, the chosen one marked;
``book/recipe_search/curves.png``
    the held-out accuracy per epoch of every candidate, one panel per model;
``book/recipe_search/choice.json``
    the recipe each architecture gets, which ``emolab.experiments.recipe.CHOSEN`` must equal
    (``tests/test_recipe.py`` checks it).

Usage::

    python benchmarks/choose_recipe.py                  # DEV_SEEDS, every candidate (10 min on 2 cores)
    python benchmarks/choose_recipe.py --seeds 100 --candidates plain --out /tmp/recipe
    python benchmarks/choose_recipe.py --from-curves    # redraw the table and figure from curves.csv
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

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
    ap.add_argument("--from-curves", action="store_true", help="only redraw best.csv and curves.png")
    args = ap.parse_args(argv)
    if args.from_curves:
        write_evidence(pd.read_csv(args.out / "curves.csv"), args.out)
        return
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
    write_evidence(curves, args.out)
    print(json.dumps(meta, indent=2))


def write_evidence(curves: pd.DataFrame, out: Path) -> None:
    """``best.csv`` and ``curves.png`` of ``curves`` (what ``book/recipe.md`` shows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = recipe.recipe_table(curves)
    choice = recipe.choose_recipe(curves)
    rows = []
    for (model, cand), g in table.groupby(["model", "candidate"], sort=False):
        top = g.sort_values(["held_out_accuracy", "epoch"], ascending=[False, True]).iloc[0]
        pick = choice[model]
        at = g.loc[g["epoch"] == pick["epochs"], "held_out_accuracy"].item()
        rows.append({"model": model, "candidate": cand, "normalize": recipe.CANDIDATES[cand]["normalize"],
                     "best epoch": int(top["epoch"]), "held-out accuracy there": round(top["held_out_accuracy"], 3),
                     "at the chosen epoch": round(at, 3),
                     "chosen": "yes" if pick["candidate"] == cand else ""})  # fmt: skip
    pd.DataFrame(rows).to_csv(out / "best.csv", index=False)
    models = sorted(table["model"].unique())
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        for cand, g in table[table["model"] == model].groupby("candidate", sort=False):
            ax.plot(g["epoch"], g["held_out_accuracy"], marker="o", ms=3, label=cand)
        pick = choice[model]
        ax.axvline(pick["epochs"], color="k", ls=":", lw=1)
        ax.set(title=f"{model}: chosen {pick['candidate']!r}, {pick['epochs']} epochs", xlabel="epoch",
               ylabel="held-out accuracy")  # fmt: skip
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
