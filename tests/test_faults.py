"""The fault matrix: for each command, the bad inputs a user can give it and what each gets — one line on
stderr naming the problem, a non-zero exit, no traceback, and every run and cache as it was.

Read it as a table: command, the bad input, the words the one line must hold. Corrupt checkpoints and caches
and a full disk are here too; killing a run mid-write is in ``test_crashes.py``, sampled output that a
format refuses in ``test_music_files.py``.
"""

import hashlib

import numpy as np
import pytest

from rnnkit.cli import main
from test_cli import one_error_line

TINY = ["--hidden", "16", "--embed", "8", "--batch-size", "8", "--steps", "4", "--eval-every", "2"]

MATRIX = [
    # train: data files of every wrong kind, per task
    ("train --data {missing}", "missing.txt': no such file or directory"),
    ("train --data {empty}", "no text in it"),
    ("train --data {binary}", "is a binary file, not text"),
    ("train --data {latin1}", "is not UTF-8 text"),
    ("train --task classify --data {no_tab}", "expected text<TAB>label, got a line without a tab"),
    ("train --task generate --data {binary}", "is a binary file, not text"),
    ("train --task tag --data {no_tab}", "expected token<TAB>tag, got a line without a tab"),
    ("train --task translate --data {no_tab}", "expected source<TAB>target, got a line without a tab"),
    ("train --task music --data {no_music}", "holds no music files"),
    ("train --task music --data {bad_music}", "none of its 1 files could be read as music"),
    ("train --task music --data {missing}", "is not chorales, folk, or a folder"),
    ("train --task memory --data nothing", "memory task must be one of adding, copy, first, got 'nothing'"),
    # train: flag values, options of other tasks, runs that exist or are broken
    ("train --steps 0", "--steps must be a positive int, got 0"),
    ("train --lr nan", "--lr must be a positive finite number, got nan"),
    ("train --pool max", "--pool does not apply to --task lm (it is for --task classify)"),
    ("train --task tag --encoding events", "--encoding does not apply to --task tag"),
    ("train --init chrono", "--init does not apply to --task lm (it is for --task memory)"),
    ("train --bogus 3", "unrecognized arguments: --bogus 3"),
    ("train --out {lm}", "already exists and is not an empty directory"),
    ("train --resume {missing}", "no checkpoint at"),
    ("train --resume {corrupt}", "is not a readable rnnkit checkpoint (truncated or corrupted?)"),
    ("train --resume {lm} --hidden 8", "takes only --steps, --epochs or --minutes, got --hidden"),
    # sample: wrong kinds of run, labels, flags of other tasks
    ("sample {classify}", "sample needs a language model or a conditional generator or a music model"),
    ("sample {generate}", "give --label, one of"),
    ("sample {generate} --label Martian", "labels never seen in training: 'Martian'"),
    ("sample {lm} --label English", "--label is for a conditional generator (--task generate)"),
    ("sample {lm} -n 0", "n must be a positive int, got 0"),
    ("sample {lm} --top-p 2", "--top-p must be in (0, 1], got 2.0"),
    ("sample {lm} --bars 3", "--bars is for a music model (--task music); "),
    ("sample {lm} --prefix M§", "characters the model never saw: '§'"),
    ("sample {corrupt}", "is corrupted: its arrays do not match their checksum"),
    ("sample {missing}", "no run directory at"),
    # predict: wrong kinds of run, input files, flags of other tasks
    ("predict {lm} hello", "predict needs a classifier or a tagger or an encoder-decoder"),
    ("predict {classify}", "predict takes texts or --file F, exactly one of them"),
    ("predict {classify} --file {missing}", "cannot read"),
    ("predict {classify} --file {empty}", "has no lines in it"),
    ("predict {classify} --file {binary}", "is a binary file, not text"),
    ("predict {classify} --top 0 hi", "--top must be a positive int, got 0"),
    ("predict {tag} --beam 2 abc", "--beam is for an encoder-decoder (--task translate); {tag} is a tagger"),
    ("predict {translate} --beam 0 abc", "--beam must be a positive int, got 0"),
    ("predict {translate} --plot-attention {no_tab} abc", "is a file; give a folder for the heat maps"),
    ("predict {translate} --file {long}", "characters the model never saw: 'x'"),
    # score, eval, info, export
    ("score {classify} hi", "score needs a language model or a conditional generator"),
    ("score {lm} --file {binary}", "is a binary file, not text"),
    ("score {lm} Ma✓", "characters the model never saw: '✓'"),
    ("eval {lm} --data {missing}", "no such file or directory"),
    ("eval {classify} --data {unknown_label}", "labels never seen in training: 'Klingon'"),
    ("eval {tag} --data {unknown_tag}", "labels never seen in training: 'Q'"),
    ("eval {translate} --data {no_tab}", "expected source<TAB>target"),
    ("eval {memory} --data copy", "its test set is generated, so --data must be 'adding', got 'copy'"),
    ("info {corrupt}", "is not a readable rnnkit checkpoint"),
    ("info {no_tab}", "no run directory at"),
    ("export {corrupt} --onnx {out}/x.onnx", "is corrupted"),
    ("export {lm} --onnx {missing}/x.onnx", "No such file or directory"),
    # lab
    ("lab memory --out {out} --lengths 0", "--lengths must be comma-separated positive ints, got '0'"),
    ("lab memory --out {out} --cells lstm,transformer", "--cells must be among rnn, gru, lstm"),
    ("lab memory --out {out} --steps 0", "--steps must be positive, got 0"),
    ("lab gradients --out {out} --length 1", "--length must be at least 2, got 1"),
    ("lab gates --out {out} --run {classify}", "lab gates needs a language model with an LSTM or GRU"),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """Tiny runs of every task that trains in seconds, and a bad file of every kind."""
    from rnnkit.cli import main as run

    root = tmp_path_factory.mktemp("faults")
    rng = np.random.default_rng(2)
    words = ["".join(rng.choice(list("abcde"), size=rng.integers(2, 6))) for _ in range(200)]
    (root / "reverse.tsv").write_text("".join(f"{w}\t{w[::-1]}\n" for w in words), encoding="utf-8")
    made = {"missing": str(root / "missing.txt"), "out": str(root / "out")}
    for name, content in {"empty": b"", "binary": b"\x00\x01\x02", "latin1": b"\xff\xfe", "no_tab": b"abc\n",
                          "unknown_label": b"hello\tKlingon\n", "unknown_tag": b"a\tB\nb\tQ\n\n",
                          "long": b"x" * 20000 + b"\n"}.items():
        (root / name).write_bytes(content)
        made[name] = str(root / name)
    for name, content in {"no_music": ("readme.txt", b"hi"), "bad_music": ("a.mid", b"MThd garbage")}.items():
        (root / name).mkdir()
        (root / name / content[0]).write_bytes(content[1])
        made[name] = str(root / name)
    for task, args in {"lm": [], "classify": ["--task", "classify"], "generate": ["--task", "generate"],
                       "tag": ["--task", "tag"], "translate": ["--task", "translate", "--data", str(root / "reverse.tsv")],
                       "memory": ["--task", "memory", "--seq-len", "10"]}.items():
        assert run(["train", *args, *TINY, "--out", str(root / task)]) == 0
        made[task] = str(root / task)
    corrupt = root / "corrupt"
    corrupt.mkdir()
    last = (root / "lm" / "last.safetensors").read_bytes()
    (corrupt / "last.safetensors").write_bytes(last[: len(last) // 2])  # truncated
    best = bytearray((root / "lm" / "best.safetensors").read_bytes())
    best[-5] ^= 0xFF  # one flipped byte in the arrays
    (corrupt / "best.safetensors").write_bytes(bytes(best))
    made["corrupt"] = str(corrupt)
    return root, made


def snapshot(root):
    """Every file under ``root`` but the lab's output folder, by content."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "out" not in p.relative_to(root).parts}


@pytest.mark.parametrize("command,expected", MATRIX, ids=[command for command, _ in MATRIX])
def test_fault_matrix(paths, monkeypatch, capsys, command, expected):
    root, made = paths
    monkeypatch.chdir(root)  # a new run with no --out goes under runs/ here
    monkeypatch.setenv("RNNKIT_CACHE", str(root / "cache"))
    before = snapshot(root)
    argv = [part.format(**made) for part in command.split(" ")]
    if argv[0] == "train" and "--resume" not in argv and "--out" not in argv:
        argv += ["--out", str(root / "new-run")]
    one_error_line(capsys, main(argv), expected.format(**made))
    assert snapshot(root) == before  # no run, file or cache damaged (nor a run directory left behind)
