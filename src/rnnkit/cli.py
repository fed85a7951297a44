"""The ``rnnkit`` command: parse arguments, call the library, print. Errors are one line on stderr."""

from __future__ import annotations

import argparse
import json
import pathlib
import signal
import sys
from dataclasses import asdict, fields


from . import __version__
from .checkpoint import CheckpointError
from .data import Vocabulary
from .engine import tuning
from .interop import distributed
from .lab import command as lab_command
from .config import SHARED_DEFAULTS, TrainConfig, option_owners, read_toml, task_options
from .options import flag
from .runs import load_run
from .tasks import MODULES
from .train import Diverged, Trainer

WHAT = {name: module.WHAT for name, module in MODULES.items()}  # what each task's model is, for messages


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"rnnkit: error: {message}\n")


def build_parser(task: str | None = None) -> argparse.ArgumentParser:
    """The command's parser; ``task`` (the --task of ``rnnkit train --task X --help``) shows that task's options
    and defaults alone in ``train``'s help."""
    parser = Parser(prog="rnnkit", description="Recurrent sequence models in NumPy: train, sample, classify, score.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    _add_train(commands, task)

    sample = commands.add_parser("sample", help="sample novel sequences from a language model, generator or "
                                                "music model (music: MIDI, MusicXML and PNG files)")
    sample.add_argument("run")
    sample.add_argument("-n", type=int, default=10)
    sample.add_argument("--label", help="the label to generate from (conditional generators)")
    sample.add_argument("--judge", metavar="RUN", help="a classifier run: how many samples it assigns to --label")
    sample.add_argument("--temperature", type=float)
    sample.add_argument("--top-k", type=int)
    sample.add_argument("--top-p", type=float)
    sample.add_argument("--beam", type=int, help="beam search of this width instead of sampling")
    sample.add_argument("--prefix")
    sample.add_argument("--max-len", type=int)
    sample.add_argument("--seed", type=int)
    sample.add_argument("--out", metavar="DIR", help="music: where the files go (default: RUN/samples)")
    sample.add_argument("--bars", type=int, help="music (events): stop after this many new bars")
    sample.add_argument("--frames", type=int, help="music (piano roll): this many new frames")
    sample.add_argument("--prime", metavar="FILE", help="music: continue the piece in this MIDI/MusicXML/ABC file")
    sample.add_argument("--wav", action="store_true", help="music: render WAV audio too (needs FluidSynth)")
    sample.add_argument("--json", action="store_true", help="one JSON object per sample")

    predict = commands.add_parser("predict", help="a classifier's labels, a tagger's tags or a translation")
    predict.add_argument("run")
    predict.add_argument("texts", nargs="*")
    predict.add_argument("--file", help="predict each line of this file")
    predict.add_argument("--top", type=int, help="classifiers: show the N most probable labels (default 1)")
    predict.add_argument("--json", action="store_true", help="one JSON object per text")
    predict.add_argument("--beam", type=int, help="translate: beam search of this width instead of greedy decoding")
    predict.add_argument("--plot-attention", metavar="DIR", help="translate: a heat map per text into DIR")

    score = commands.add_parser("score", help="log-probability, perplexity and bits per token of texts")
    score.add_argument("run")
    score.add_argument("texts", nargs="*")
    score.add_argument("--file", help="score each line of this file")
    score.add_argument("--label", help="the label to score under (conditional generators)")
    score.add_argument("--json", action="store_true", help="one JSON object per text")

    evaluate = commands.add_parser("eval", help="metrics over a whole file (text, text<TAB>label, token<TAB>tag)")
    evaluate.add_argument("run")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--json", action="store_true")

    info = commands.add_parser("info", help="what a run is: task, model, parameters, data, steps, best loss")
    info.add_argument("run")
    info.add_argument("--json", action="store_true", help="one JSON object: the run's config, state and lines")

    export = commands.add_parser("export", help="write a trained run as ONNX, for runtimes without NumPy")
    export.add_argument("run")
    export.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write (an encoder-decoder "
                        "writes FILE-encoder.onnx and FILE-decoder-step.onnx)")

    lab_command.add_parser(commands)
    return parser


def _add_train(commands, task: str | None) -> None:
    """``rnnkit train``: a flag for every field of TrainConfig and of every task's Options, each with its help and
    default as the tasks declare them. With ``task``, the options of other tasks are accepted but not shown."""
    train = commands.add_parser("train", help="train a model (default: a language model, an LSTM on names)",
                                formatter_class=argparse.RawDescriptionHelpFormatter, description="tasks:\n" +
                                "\n".join(f"  {name:<10} {module.WHAT}; --data {module.DATA}"
                                          for name, module in MODULES.items()))
    for f in fields(TrainConfig):
        if f.name != "options":
            _add_option(train, f, {name: m.DEFAULTS.get(f.name, SHARED_DEFAULTS.get(f.name, f.default))
                                   for name, m in MODULES.items()}, task)
    owners = option_owners()
    group = train.add_argument_group(f"options of --task {task}" if task else "options of some tasks")
    for name, tasks in owners.items():
        defaults = {t: next(f for f in task_options(t) if f.name == name) for t in tasks}
        field_ = next(iter(defaults.values()))
        hidden = task is not None and task not in tasks
        _add_option(group, field_, {t: f.default for t, f in defaults.items()}, task, hidden, tasks)
    train.add_argument("--config", metavar="FILE", help="options from a TOML file (a run's config.toml; the task's own "
                       "under [options]); flags given beside it win")
    train.add_argument("--out", help="run directory to create (default: runs/<data>-<cell>[-N])")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")


def _add_option(parser, field_, defaults: dict, task: str | None, hidden: bool = False, tasks=None) -> None:
    """A flag for ``field_`` (an ``options.option``); ``defaults``: each task's default for it."""
    meta = field_.metadata
    if hidden:
        help_ = argparse.SUPPRESS
    else:
        if task is not None:
            shown = f"default {defaults[task]}" if defaults[task] is not None else ""
        elif len(set(map(str, defaults.values()))) == 1:
            shown = f"default {next(iter(defaults.values()))}" if next(iter(defaults.values())) is not None else ""
        else:
            shown = "default: " + ", ".join(f"{t} {v}" for t, v in defaults.items() if v is not None)
        only = "" if task is not None or tasks is None else f"--task {'/'.join(tasks)}: "
        help_ = f"{only}{meta['help']}" + (f" ({shown})" if shown else "")
    kind, choices = meta["kind"], tuple(MODULES) if field_.name == "task" else meta["choices"]  # the registry's tasks
    if kind is bool:
        parser.add_argument(flag(field_.name), action=argparse.BooleanOptionalAction, help=help_)
    elif choices:
        parser.add_argument(flag(field_.name), choices=choices, help=help_)
    else:
        parser.add_argument(flag(field_.name), type=kind, help=help_)


def main(argv=None) -> int:
    try:
        parser = build_parser(_task_asked(sys.argv[1:] if argv is None else argv))
        args, extra = parser.parse_known_args(argv)
        if extra and args.command in ("predict", "score") and not any(e.startswith("-") for e in extra):
            args.texts += extra  # texts after an option: rnnkit predict RUN --top 3 "a text"
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return {"train": cmd_train, "sample": cmd_sample, "predict": cmd_predict, "score": cmd_score,
                "eval": cmd_eval, "info": cmd_info, "export": cmd_export, "lab": lab_command.run}[args.command](args)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    except (ValueError, TypeError, CheckpointError, Diverged, OSError, ImportError) as error:
        print(f"rnnkit: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # training handles Ctrl-C itself; anything else just stops
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


def _task_asked(argv) -> str | None:
    """The task of ``rnnkit train --task X`` (or ``--task=X``) when X is one, for its help; else None."""
    if not argv or argv[0] != "train":
        return None
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--task" and i + 1 < len(argv) else arg.partition("=")[2]
        if (arg == "--task" or arg.startswith("--task=")) and value in MODULES:
            return value
    return None


# ----------------------------------------------------------------------------------------------- train

def _given(args) -> dict:
    """The options given: by --config's file, then by the flags (which win); shared ones by name, the task's
    under "options"."""
    from_file = read_toml(args.config) if args.config and not args.resume else {}
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    options = {name: getattr(args, name) for name in option_owners() if getattr(args, name) is not None}
    options = {**from_file.pop("options", {}), **options}
    given = {**from_file, **given, **({"options": options} if options else {})}
    if ("epochs" in given or "minutes" in given) and "steps" not in given:
        given["steps"] = None  # the run's length is the epochs or minutes, not the task's default steps
    return given


def _new_run_dir(args, config) -> pathlib.Path:
    if args.out is not None:
        out = pathlib.Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"--out {args.out!r} already exists and is not an empty directory; "
                             "choose another --out, or continue it with --resume")
        return out
    default_task = next(f.default for f in fields(TrainConfig) if f.name == "task")
    task = f"-{config.task}" if config.task != default_task else ""  # the default task's runs have no suffix
    stem = f"runs/{pathlib.Path(config.data).stem or 'data'}{task}-{config.cell}"
    out, n = pathlib.Path(stem), 1
    while out.exists():
        n += 1
        out = pathlib.Path(f"{stem}-{n}")
    return out


def cmd_train(args) -> int:
    world = distributed.world()  # one process, or the ranks of mpiexec -n N
    try:
        return _train(args, world)
    except Diverged:
        if world.is_main:
            raise
        return 1  # every rank saw the same loss; rank 0 says it
    except Exception as error:
        if world.size == 1:
            raise
        world.fail(error)  # one rank alone must not leave the others waiting
        return 1


def _train(args, world) -> int:
    given = _given(args)
    say = (lambda text: print(text, file=sys.stderr)) if world.is_main else (lambda text: None)
    if args.resume:
        named = [*given, *given.get("options", {})]
        extra = sorted(set(named) - {"steps", "epochs", "minutes", "options"}) + (["out"] if args.out else [])
        extra += ["config"] if args.config else []
        if extra:
            raise ValueError(f"--resume continues a run as configured; it takes only --steps, --epochs or "
                             f"--minutes, got {', '.join(flag(e) for e in extra)}")
        out = pathlib.Path(args.resume)
        trainer = Trainer.resume(out, world, **given)
        say(f"resuming {out} at step {trainer.step}")
    else:
        config = TrainConfig(**given)
        config.check()  # before the run directory is named or the data loaded
        out = pathlib.Path(world.share_text(str(_new_run_dir(args, config)) if world.is_main else ""))
        trainer = Trainer(config, out, world=world)
    say(f"{trainer.task.describe()} -> {out}" + (f" (data-parallel on {world.size} MPI ranks)" if world.size > 1 else ""))
    try:
        status = trainer.run()
    except Diverged as error:
        raise Diverged(f"training stopped: {error}; the last good checkpoint is kept in {out} "
                       "(try a lower --lr or --clip)") from None
    if status == "interrupted":  # 128 + the signal, as a shell reports it: a scheduler tells it from an end
        say(f"interrupted at step {trainer.step}; saved. Continue with: rnnkit train --resume {out}")
        return 128 + (trainer.stop_signal or signal.SIGTERM)  # (another rank's signal, agreed in the Allreduce)
    if not world.is_main:
        return 0
    for line in trainer.task.report(out, trainer.best):
        print(line)
    print(f"run saved in {out}; {MODULES[trainer.config.task].NEXT.format(out=out)}")
    return 0


# ------------------------------------------------------------------------------------ using a run

def _load(path, command: str, tasks: tuple[str, ...]):
    run = load_run(path)
    if run.task not in tasks:
        raise ValueError(f"{command} needs {' or '.join(WHAT[t] for t in tasks)}; {path} is {WHAT[run.task]} "
                         f"(--task {run.task})")
    return run


SAMPLE_FLAGS = ("label", "judge", "temperature", "top_k", "top_p", "beam", "prefix", "max_len", "seed", "out", "bars",
                "frames", "prime", "wav")  # what a task's sample may take (its SAMPLE_OPTIONS)


def cmd_sample(args) -> int:
    run = _load(args.run, "sample", tuple(name for name, m in MODULES.items() if hasattr(m, "sample")))
    options = _options_for(run, args, SAMPLE_FLAGS, "SAMPLE_OPTIONS")
    if "judge" in options:
        judges = tuple(n for n, m in MODULES.items() if "top" in getattr(m, "PREDICT_OPTIONS", ()))  # ranked labels
        options["judge"] = _load(options["judge"], "--judge", judges)
    records, notes = run.module.sample(run, args.run, args.n, **options)
    for record in records:
        print(json.dumps(record) if args.json else run.module.show_sample(run, record))
    for note in notes:
        print(note, file=sys.stderr)
    return 0


def _options_for(run, args, names: tuple[str, ...], declared: str) -> dict:
    """The flags among ``names`` given on the command line, as keyword arguments of the run's task's verb; a
    flag its task does not declare (in its module's ``declared`` tuple) is refused, naming the tasks it is for."""
    options = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    options = {name: value for name, value in options.items() if value is not False}  # a store_true flag not given
    refused = [name for name in options if name not in getattr(run.module, declared)]
    if refused:
        owners = [t for t, m in MODULES.items() if set(refused) & set(getattr(m, declared, ()))]
        raise ValueError(f"{' and '.join(flag(name) for name in refused)} {'is' if len(refused) == 1 else 'are'} "
                         f"for {' or '.join(WHAT[t] for t in owners)} (--task {' or '.join(owners)}); "
                         f"{args.run} is {WHAT[run.task]}")
    return options


def _texts(args, command: str) -> list[str]:
    if bool(args.texts) == bool(args.file):
        raise ValueError(f"{command} takes texts or --file F, exactly one of them")
    return args.texts or _read_lines(args.file)


PREDICT_FLAGS = ("top", "beam", "plot_attention")  # what a task's predict_texts may take (its PREDICT_OPTIONS)


def cmd_predict(args) -> int:
    texts = _texts(args, "predict")
    run = _load(args.run, "predict", tuple(name for name, m in MODULES.items() if hasattr(m, "predict_texts")))
    module, options = run.module, _options_for(run, args, PREDICT_FLAGS, "PREDICT_OPTIONS")
    for record in module.predict_texts(run, texts, **options):
        print(json.dumps(record) if args.json else module.show_prediction(run, record))
    if args.plot_attention:
        print(f"attention heat maps: {pathlib.Path(args.plot_attention)}/attention-1.png ... "
              f"attention-{len(texts)}.png", file=sys.stderr)
    return 0


def cmd_score(args) -> int:
    texts = _texts(args, "score")
    run = _load(args.run, "score", tuple(name for name, m in MODULES.items() if hasattr(m, "score_texts")))
    records = run.module.score_texts(run, args.run, texts, label=args.label)
    if args.json:
        for r in records:
            print(json.dumps(r))
        return 0
    unit = records[0]["unit"]
    print(f"{'log P':>10} {'ppl':>9} {'bits/' + unit:>10}  text")
    for r in records:
        print(f"{r['log_prob']:10.3f} {r['perplexity']:9.3f} {r['bits']:10.3f}  {r['text']}")
    return 0


def _read_lines(path) -> list[str]:
    from .data.corpus import read_text

    lines = [line for line in read_text(pathlib.Path(path)).splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"--file {path!r} has no lines in it")
    return lines


def cmd_eval(args) -> int:
    run = load_run(args.run)
    result, text = run.module.evaluate_data(run, args.data)
    print(json.dumps(result) if args.json else text)
    return 0


def cmd_info(args) -> int:
    run = load_run(args.run, which="last")
    lines = run.module.info(run.config, run.meta)
    if run.config.cell == "lstm":  # the one cell with an engine
        lines += tuning.describe(run.config.hidden)
    if args.json:
        state = {key: run.meta.get(key) for key in ("step", "total_steps", "best_valid_loss", "best_step",
                                                     "num_params")}
        print(json.dumps({"task": run.task, "config": asdict(run.config), **state, "lines": lines}))
        return 0
    for line in lines:
        print(line)
    return 0


RUN_STATE = ("config", "step", "total_steps", "position", "optimizer_steps", "rng", "best_valid_loss", "best_step",
             "stale_validations")


def cmd_export(args) -> int:
    from .interop.onnx import export

    run = load_run(args.run)
    metadata = {"task": run.task, "best_valid_loss": run.meta["best_valid_loss"], "step": run.meta["step"]}
    for key, value in run.meta.items():  # what the task saved to rebuild and use the model, vocabularies spelled out
        if key not in RUN_STATE:
            metadata[key] = _spelled_out(Vocabulary.from_json(value)) if key.endswith("vocab") else value
    for path in export(run.model, args.onnx, metadata):
        print(f"wrote {path}")
    return 0


def _spelled_out(vocab: Vocabulary) -> dict:
    """A vocabulary as a runtime without rnnkit needs it: every token by id, the specials' ids."""
    return {"level": vocab.level, "itos": vocab.itos, "pad": vocab.pad, "eos": vocab.eos, "unk": vocab.unk}


if __name__ == "__main__":
    sys.exit(main())
