"""The ``rnnkit`` command: parse arguments, call the library, print. Errors are one line on stderr."""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
from dataclasses import fields

import numpy as np

from . import generate
from .checkpoint import CheckpointError
from .data import load_corpus
from .train import Diverged, TrainConfig, Trainer, load_run


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"rnnkit: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rnnkit", description="Recurrent language models in NumPy: train, sample, score.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = commands.add_parser("train", help="train a language model (default: an LSTM on names)")
    train.add_argument("--data", help="names, python-source, or a UTF-8 text file or directory")
    train.add_argument("--level", choices=("char", "word"))
    train.add_argument("--mode", choices=("lines", "stream"), help="override the corpus's own batching")
    train.add_argument("--cell", choices=("lstm", "gru", "rnn"))
    train.add_argument("--optimizer", choices=("adam", "sgd", "rmsprop", "adagrad"))
    train.add_argument("--schedule", choices=("cosine", "constant"))
    for flag, kind in (("--hidden", int), ("--layers", int), ("--embed", int), ("--dropout", float),
                       ("--seq-len", int), ("--batch-size", int), ("--steps", int), ("--epochs", int),
                       ("--minutes", float), ("--lr", float), ("--clip", float), ("--seed", int),
                       ("--eval-every", int), ("--sample-every", int), ("--min-freq", int), ("--max-vocab", int)):
        train.add_argument(flag, type=kind)
    train.add_argument("--out", help="run directory to create (default: runs/<data>-<cell>[-N])")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")

    sample = commands.add_parser("sample", help="sample novel sequences from a trained run")
    sample.add_argument("run")
    sample.add_argument("-n", type=int, default=10)
    sample.add_argument("--temperature", type=float, default=1.0)
    sample.add_argument("--top-k", type=int)
    sample.add_argument("--top-p", type=float)
    sample.add_argument("--beam", type=int, help="beam search of this width instead of sampling")
    sample.add_argument("--prefix", default="")
    sample.add_argument("--max-len", type=int)
    sample.add_argument("--seed", type=int)

    score = commands.add_parser("score", help="log-probability, perplexity and bits per token of texts")
    score.add_argument("run")
    score.add_argument("texts", nargs="*")
    score.add_argument("--file", help="score each line of this file")

    evaluate = commands.add_parser("eval", help="loss, perplexity and bits per token over a whole file")
    evaluate.add_argument("run")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--json", action="store_true")

    info = commands.add_parser("info", help="what a run is: model, parameters, corpus, steps, best loss")
    info.add_argument("run")
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"train": cmd_train, "sample": cmd_sample, "score": cmd_score, "eval": cmd_eval,
                "info": cmd_info}[args.command](args)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    except (ValueError, TypeError, CheckpointError, Diverged, OSError) as error:
        print(f"rnnkit: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # training handles Ctrl-C itself; anything else just stops
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


# ----------------------------------------------------------------------------------------------- train

def _config_from(args) -> tuple[TrainConfig, set[str]]:
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    if ("epochs" in given or "minutes" in given) and "steps" not in given:
        given["steps"] = None
    return TrainConfig(**given), set(given)


def _new_run_dir(args, config) -> pathlib.Path:
    if args.out is not None:
        out = pathlib.Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"--out {args.out!r} already exists and is not an empty directory; "
                             "choose another --out, or continue it with --resume")
        return out
    stem = f"runs/{pathlib.Path(config.data).stem or 'data'}-{config.cell}"
    out, n = pathlib.Path(stem), 1
    while out.exists():
        n += 1
        out = pathlib.Path(f"{stem}-{n}")
    return out


def cmd_train(args) -> int:
    config, given = _config_from(args)
    if args.resume:
        extra = sorted(given - {"steps", "epochs", "minutes"}) + (["out"] if args.out else [])
        if extra:
            raise ValueError(f"--resume continues a run as configured; it takes only --steps, --epochs or "
                             f"--minutes, got --{', --'.join(e.replace('_', '-') for e in extra)}")
        out = pathlib.Path(args.resume)
        trainer = Trainer.resume(out, **{k: getattr(config, k) for k in given})
        print(f"resuming {out} at step {trainer.step}", file=sys.stderr)
    else:
        out = _new_run_dir(args, config)
        trainer = Trainer(config, out)
    data, model = trainer.data, trainer.model
    print(f"{data.corpus_name}: {len(data.vocab)} {trainer.config.level} tokens in the vocabulary, "
          f"{data.mode} mode; {trainer.config.cell} with {model.num_params:,} parameters -> {out}", file=sys.stderr)
    try:
        status = trainer.run()
    except Diverged as error:
        raise Diverged(f"training stopped: {error}; the last good checkpoint is kept in {out} "
                       "(try a lower --lr or --clip)") from None
    if status == "interrupted":
        print(f"interrupted at step {trainer.step}; saved. Continue with: rnnkit train --resume {out}",
              file=sys.stderr)
        return 0
    _report(trainer, out)
    return 0


def _report(trainer: Trainer, out: pathlib.Path) -> None:
    unit = "char" if trainer.config.level == "char" else "token"
    valid = trainer.best
    print(f"best validation cross-entropy: {valid:.4f} nats/{unit} ({valid / math.log(2):.3f} bits/{unit})")
    baseline = trainer.baseline()
    if baseline is not None:
        print(f"trigram add-k baseline (k={baseline[1]}) on the same split: {baseline[0]:.4f} nats/{unit}")
    samples = trainer.samples(10, seed=trainer.config.seed)
    if trainer.data.train_lines is not None:
        novel = [s for s in samples if s not in trainer.data.train_lines]
        print(f"samples ({len(novel)}/{len(samples)} novel, not in the training data):")
    else:
        print("sample:")
    for text in samples:
        print(f"  {text}")
    print(f"run saved in {out}; sample more with: rnnkit sample {out}")


# ------------------------------------------------------------------------------------ using a run

def cmd_sample(args) -> int:
    model, vocab, meta = load_run(args.run)
    lines = meta["mode"] == "lines"
    max_len = args.max_len if args.max_len is not None else (50 if lines else 300)
    if args.beam is not None:
        best = generate.beam_search(model, vocab, meta["start"], width=args.beam, max_len=max_len,
                                    prefix=args.prefix, n=args.n)
        for text, log_prob in best:
            print(f"{log_prob:9.3f}  {text}")
        return 0
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {args.top_p}")
    samples = generate.sample(model, vocab, meta["start"], n=args.n, max_len=max_len,
                              temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                              prefix=args.prefix, rng=np.random.default_rng(args.seed), stop_at_eos=lines)
    for text in samples:
        print(text)
    if lines:
        train = _training_lines(meta)
        if train is not None:
            novel = sum(s not in train for s in samples)
            print(f"{novel}/{len(samples)} novel (not in the training data)", file=sys.stderr)
    return 0


def _training_lines(meta):
    try:
        corpus = load_corpus(meta["config"]["data"])
    except ValueError:
        return None  # the corpus is gone; novelty cannot be told
    return set(corpus.split("lines")[0])


def cmd_score(args) -> int:
    if bool(args.texts) == bool(args.file):
        raise ValueError("score takes texts or --file F, exactly one of them")
    model, vocab, meta = load_run(args.run)
    texts = args.texts or _read_lines(args.file)
    unit = "char" if vocab.level == "char" else "token"
    print(f"{'log P':>10} {'ppl':>9} {'bits/' + unit:>10}  text")
    for text in texts:
        log_prob, n = generate.score(model, vocab, meta["start"], text, eos_at_end=meta["mode"] == "lines")
        s = generate.summary(log_prob, n)
        print(f"{log_prob:10.3f} {s['perplexity']:9.3f} {s['bits']:10.3f}  {text}")
    return 0


def _read_lines(path) -> list[str]:
    from .data.corpus import read_text

    lines = [line for line in read_text(pathlib.Path(path)).splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"--file {path!r} has no lines to score")
    return lines


def cmd_eval(args) -> int:
    model, vocab, meta = load_run(args.run)
    corpus = load_corpus(args.data)
    if meta["mode"] == "lines":
        totals = [generate.score(model, vocab, meta["start"], line) for line in corpus.lines]
        log_prob, tokens = sum(t[0] for t in totals), sum(t[1] for t in totals)
    else:
        log_prob, tokens = generate.evaluate_stream(model, vocab, meta["start"], corpus.text)
    s = generate.summary(log_prob, tokens)
    key = "bits_per_char" if vocab.level == "char" else "bits_per_token"
    result = {"loss": s["loss"], "perplexity": s["perplexity"], key: s["bits"]}
    if args.json:
        print(json.dumps(result))
    else:
        unit = key.split("_")[-1]
        print(f"{tokens} {unit}s: loss {s['loss']:.4f} nats/{unit}, perplexity {s['perplexity']:.3f}, "
              f"{s['bits']:.4f} bits/{unit}")
    return 0


def cmd_info(args) -> int:
    _, vocab, meta = load_run(args.run, which="last")
    c = meta["config"]
    best = meta["best_valid_loss"]
    print(f"model: {c['cell']}, {c['layers']} layer(s) of {c['hidden']}, embedding {c['embed']}, "
          f"dropout {c['dropout']}")
    print(f"parameters: {meta['num_params']:,}")
    print(f"corpus: {meta['corpus']} ({meta['mode']} mode, {vocab.level} level, vocabulary {len(vocab)})")
    print(f"steps: {meta['step']}" + (f" of {meta['total_steps']}" if meta["total_steps"] else ""))
    print(f"best validation loss: {'none yet' if best is None else f'{best:.4f} nats/{vocab.level}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
