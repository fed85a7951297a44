"""``rnnkit lab``: the command line of the experiments (``lab/__init__.py`` lists them)."""

from __future__ import annotations

import json
import pathlib
import sys

from . import CELL_NAMES


def add_parser(commands) -> None:
    """``rnnkit lab``'s arguments, on the command's subparsers."""
    lab = commands.add_parser("lab", help="experiments that show vanishing and exploding gradients, memory, gates")
    lab.add_argument("experiment", choices=("gradients", "memory", "clipping", "gates"))
    lab.add_argument("--out", required=True, help="folder for the JSON, the PNG and the runs")
    lab.add_argument("--task", choices=("adding", "copy", "first"), default="adding", help="memory: the problem")
    lab.add_argument("--lengths", default="50,100,200,400", help="memory: sequence lengths T, comma-separated")
    lab.add_argument("--length", type=int, default=200, help="gradients: the sequence length T")
    lab.add_argument("--cells", default="rnn,gru,lstm", help="gradients, memory: cells, comma-separated")
    lab.add_argument("--steps", type=int, help="training steps of each run")
    lab.add_argument("--lr", type=float, help="learning rate (clipping: of plain SGD)")
    lab.add_argument("--text", default="Maximilian", help="gates: the input to show")
    lab.add_argument("--run", dest="lab_run", metavar="RUN", help="gates: a trained language model to look into")
    lab.add_argument("--init", choices=("chrono", "standard"), default="chrono",
                     help="memory: the gated cells' biases, chrono (default) or the layers' own (forget bias 1)")
    lab.add_argument("--seed", type=int, default=0)
    lab.add_argument("--json", action="store_true", help="print the results (what results.json holds) as JSON")


def _int_list(flag: str, text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated positive ints, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{flag} must be comma-separated positive ints, got {text!r}")
    return values


def run(args) -> int:
    """``rnnkit lab EXPERIMENT``: run it and print what it found."""
    from . import clipping, gates, gradients, memory  # each imports the training loop: only when asked

    options = {k: v for k, v in (("steps", args.steps), ("lr", args.lr)) if v is not None}
    for name, value in options.items():
        if not value > 0:
            raise ValueError(f"--{name} must be positive, got {value}")
    cells = args.cells.split(",")
    unknown = sorted(set(cells) - set(CELL_NAMES))
    if unknown or not cells:
        raise ValueError(f"--cells must be among {', '.join(CELL_NAMES)}, got {args.cells!r}")
    out = pathlib.Path(args.out)
    if args.experiment == "memory":
        result = memory.run(out, args.task, _int_list("--lengths", args.lengths), cells=cells, seed=args.seed,
                            init=args.init, **options)
        lines = [f"{r['cell']:<5} T={r['T']:<4} {r['params']:>7,} parameters  test loss {r['test_loss']:.5f}  "
                 f"(remembering nothing: {r['baseline']:.5f})" for r in result["runs"]]
    elif args.experiment == "gradients":
        if args.length < 2:
            raise ValueError(f"--length must be at least 2, got {args.length}")
        result = gradients.run(out, args.length, cells=cells, seed=args.seed, **options)
        lines = []
        for cell, entry in result["cells"].items():
            h0, h1 = entry["initial"]["h"], entry["trained"]["h"]
            lines.append(f"{cell:<5} ||dL/da<1>|| / ||dL/da<T>||: {h0[0] / h0[-1]:.2e} at initialisation, "
                         f"{h1[0] / h1[-1]:.2e} trained (test MSE {entry['test_loss']:.5f})")
    elif args.experiment == "clipping":
        result = clipping.run(out, seed=args.seed, **options)
        lines = []
        for r in result["runs"]:
            fate = (f"diverged at step {r['diverged_at']}" if r["diverged_at"]
                    else f"best validation {r['best_valid_loss']:.4f}")
            lines.append(f"clipping {r['clip_mode']:<5}: {fate}; {r['clipped_share']:.0%} of steps clipped")
    else:
        result = gates.run(out, args.text, args.lab_run, seed=args.seed,
                           **{k: v for k, v in options.items() if k == "steps"})
        lines = [f"{result['cell']} gates over {result['text']!r}, {len(result['units'])} units"]
    print(json.dumps(result) if args.json else "\n".join(lines))
    print(f"results in {out}", file=sys.stderr)
    return 0
