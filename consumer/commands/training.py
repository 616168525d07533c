"""`train` and `evaluate`: model folders from recipes or files, and their evaluation reports.

The training code is imported by the handlers only: the image leaves it out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson

from consumer.commands import Handler

__all__ = ["HANDLERS", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = sub.add_parser("train", help="train a model folder")
    train.add_argument("--data", help="CSV or JSONL file with text and label columns")
    train.add_argument(
        "--recipe",
        choices=["default", "routing", "transformer", "cascade"],
        help="a shipped model's recipe over ../shared/data: default (malicious-content), "
        "routing (banking intents) or transformer (a fine-tuned encoder on default's rows; "
        "needs the train extra) or cascade (--fast and --transformer folders as stages)",
    )
    train.add_argument(
        "--data-root", help="folder of the training sources (default: ../shared/data)"
    )
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--name", default="custom", help="model name (with --data)")
    train.add_argument("--version", default="0.1.0", help="model version")
    train.add_argument("--seed", type=int, default=20261125)
    train.add_argument(
        "--rows", type=int, help="transformer: training rows drawn (default: the recipe's)"
    )
    train.add_argument(
        "--held-out-fold",
        type=int,
        choices=[1, 2],
        help="transformer: leave out that half of the held-out groups (for `evaluate`)",
    )
    train.add_argument("--fast", help="cascade: the fast stage's model folder")
    train.add_argument("--transformer", help="cascade: the transformer stage's model folder")
    train.add_argument(
        "--routed-share",
        type=float,
        default=0.2,
        help="cascade: the share of validation rows the uncertain band sends to the transformer",
    )
    train.add_argument(
        "--threads", type=int, default=0, help="transformer: torch threads (0: all cores)"
    )
    train.add_argument(
        "--max-seconds", type=float, help="transformer: stop fine-tuning after this long"
    )

    evaluate = sub.add_parser(
        "evaluate",
        help="write an evaluation report (markdown and plots) into a model folder",
    )
    evaluate.add_argument("--model", required=True, help="model folder made by a recipe")
    evaluate.add_argument(
        "--data-root", help="folder of the training sources (default: ../shared/data)"
    )
    evaluate.add_argument("--seed", type=int, default=20261125)
    evaluate.add_argument(
        "--fold-models",
        nargs=2,
        metavar="DIR",
        help="transformer or cascade: the two fold models of `train --recipe transformer "
        "--held-out-fold 1|2`, which score the held-out groups",
    )
    evaluate.add_argument(
        "--compare-cascades",
        nargs="*",
        default=[],
        metavar="DIR",
        help="cascade: other cascades over the same stages (other bands), measured alongside",
    )
    evaluate.add_argument(
        "--scores-cache",
        help="cascade or transformer: keep the held-out scores here and reuse them when the "
        "fold models, seed and recipe are the same (the refits take most of the time)",
    )


def _data_root(args: argparse.Namespace) -> Path:
    from consumer.training.datasets import default_data_root

    return Path(args.data_root) if args.data_root else default_data_root()


def _cmd_train(args: argparse.Namespace) -> int:
    from consumer.training.default_model import train_default
    from consumer.training.file_model import train_file
    from consumer.training.routing import train_routing

    started = time.monotonic()
    if args.recipe == "default":
        folder = train_default(
            _data_root(args), Path(args.out), version=args.version, seed=args.seed
        )
    elif args.recipe == "routing":
        folder = train_routing(
            _data_root(args), Path(args.out), version=args.version, seed=args.seed
        )
    elif args.recipe == "transformer":
        folder = _train_transformer(args)
    elif args.recipe == "cascade":
        from consumer.training.cascade import train_cascade

        if not (args.fast and args.transformer):
            raise SystemExit("train --recipe cascade: give --fast DIR and --transformer DIR")
        folder = train_cascade(
            _data_root(args),
            Path(args.out),
            fast_dir=Path(args.fast),
            transformer_dir=Path(args.transformer),
            version=args.version,
            routed_share=args.routed_share,
        )
    else:
        if not args.data:
            raise SystemExit(
                "train: give --data FILE (CSV or JSONL of text,label) or --recipe default|routing"
            )
        folder = train_file(
            Path(args.data), Path(args.out), name=args.name, version=args.version, seed=args.seed
        )
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    print(f"wrote {folder} in {time.monotonic() - started:.0f} s")
    print(orjson.dumps(manifest.get("metrics", {}), option=orjson.OPT_INDENT_2).decode())
    return 0


def _train_transformer(args: argparse.Namespace) -> Path:
    from dataclasses import replace

    from consumer.training.heldout import fold_sources
    from consumer.training.transformer import TransformerRecipe, train_transformer

    recipe = TransformerRecipe()
    if args.rows:
        recipe = replace(recipe, rows=args.rows)
    return train_transformer(
        _data_root(args),
        Path(args.out),
        version=args.version,
        seed=args.seed,
        recipe=recipe,
        exclude=fold_sources(args.held_out_fold) if args.held_out_fold else (),
        threads=args.threads or None,
        max_seconds=args.max_seconds,
    )


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from consumer.training.evaluation import evaluate_model

    started = time.monotonic()
    report = evaluate_model(
        Path(args.model),
        _data_root(args),
        seed=args.seed,
        fold_models=[Path(p) for p in args.fold_models] if args.fold_models else None,
        extra_cascades=[Path(p) for p in args.compare_cascades],
        scores_cache=Path(args.scores_cache) if args.scores_cache else None,
    )
    print(f"wrote {report} in {time.monotonic() - started:.0f} s")
    return 0


HANDLERS: dict[str, Handler] = {
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
}
