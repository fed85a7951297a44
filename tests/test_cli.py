"""The rnnkit command through main(argv): a whole run used end to end, and bad input as one line on stderr."""

import json

import pytest

from rnnkit.cli import main

TINY = ["--hidden", "16", "--embed", "8", "--batch-size", "32", "--steps", "60", "--lr", "0.02", "--eval-every", "20",
        "--sample-every", "1000"]


@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "names"
    assert main(["train", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def stream_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    text = folder / "poem.txt"
    text.write_text("so much depends upon a red wheel barrow glazed with rain water\n" * 40, encoding="utf-8")
    out = folder / "run"
    assert main(["train", "--data", str(text), "--seq-len", "20", "--out", str(out), *TINY]) == 0
    return out, text


def test_train_reports_baseline_samples_and_saves_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "best validation cross-entropy" in printed and "trigram add-k baseline" in printed
    assert "novel, not in the training data" in printed and f"rnnkit sample {out}" in printed
    assert {"last.safetensors", "best.safetensors", "metrics.jsonl", "loss.png"} <= {p.name for p in out.iterdir()}
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_score_eval_and_info_on_a_line_run(names_run, tmp_path, capsys):
    assert main(["sample", str(names_run), "-n", "4", "--seed", "1", "--prefix", "Ma"]) == 0
    out = capsys.readouterr()
    samples = out.out.splitlines()
    assert len(samples) == 4 and all(s.startswith("Ma") for s in samples) and "novel" in out.err
    assert main(["sample", str(names_run), "-n", "4", "--seed", "1", "--prefix", "Ma"]) == 0
    assert capsys.readouterr().out.splitlines() == samples
    assert main(["sample", str(names_run), "--beam", "3", "-n", "2", "--top-k", "5"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

    assert main(["score", str(names_run), "Maria", "Zzxq"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 3 and float(rows[1].split()[2]) < float(rows[2].split()[2])  # bits per char

    names = tmp_path / "names.txt"
    names.write_text("Maria\nJohn\n", encoding="utf-8")
    assert main(["eval", str(names_run), "--data", str(names), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"loss", "perplexity", "bits_per_char"}
    assert result["perplexity"] == pytest.approx(2 ** result["bits_per_char"])
    assert main(["eval", str(names_run), "--data", str(names)]) == 0
    assert capsys.readouterr().out.startswith("11 chars:")  # 5 + 4 characters and an <EOS> after each name

    assert main(["info", str(names_run)]) == 0
    info = capsys.readouterr().out
    assert "lstm, 1 layer(s) of 16" in info and "steps: 60 of 60" in info and "corpus: names" in info


def test_stream_run_samples_scores_and_evaluates(stream_run, capsys):
    run, text = stream_run
    assert main(["sample", str(run), "-n", "2", "--max-len", "40", "--prefix", "red", "--seed", "0"]) == 0
    assert all(s.startswith("red") for s in capsys.readouterr().out.split("\n")[:1])
    assert main(["eval", str(run), "--data", str(text)]) == 0
    assert "bits/char" in capsys.readouterr().out


def one_error_line(capsys, code, expected):
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0, err
    assert err and err[-1].startswith("rnnkit: error:") and expected in err[-1], err
    assert not any("Traceback" in line for line in err)


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--hidden", "0"], "--hidden must be a positive int, got 0"),
        (["--layers", "-2"], "--layers must be a positive int, got -2"),
        (["--lr", "nan"], "--lr must be a positive finite number, got nan"),
        (["--dropout", "1"], "--dropout must be a float in [0, 1), got 1.0"),
        (["--dropout", "-0.1"], "--dropout must be a float in [0, 1)"),
        (["--batch-size", "0"], "--batch-size must be a positive int, got 0"),
        (["--seq-len", "0"], "--seq-len must be a positive int, got 0"),
        (["--clip", "-1"], "--clip must be a positive finite number"),
        (["--cell", "transformer"], "argument --cell: invalid choice"),
        (["--hidden", "many"], "argument --hidden: invalid int value"),
    ],
)
def test_bad_training_flags(tmp_path, capsys, argv, expected):
    one_error_line(capsys, main(["train", "--out", str(tmp_path / "r"), *argv]), expected)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "content,expected",
    [(None, "no such file or directory"), (b"", "no text in it"), (b"\x00\x01\x02", "is a binary file"),
     (b"\xff\xfe", "is not UTF-8 text")],
)
def test_bad_data_files(tmp_path, capsys, content, expected):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    one_error_line(capsys, main(["train", "--data", str(path), "--out", str(tmp_path / "r")]), expected)


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
        (["--top-p", "1.5"], "--top-p must be in (0, 1], got 1.5"),
        (["--temperature", "-1"], "temperature must be a non-negative finite number, got -1.0"),
        (["-n", "0"], "n must be a positive int, got 0"),
        (["--prefix", "M§"], "characters the model never saw: '§'"),
    ],
)
def test_bad_sampling_flags(names_run, capsys, argv, expected):
    one_error_line(capsys, main(["sample", str(names_run), *argv]), expected)


def test_missing_and_corrupt_runs(names_run, tmp_path, capsys):
    one_error_line(capsys, main(["sample", str(tmp_path / "nothing")]), "no run directory at")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "best.safetensors").write_bytes((names_run / "best.safetensors").read_bytes()[:200])
    one_error_line(capsys, main(["info", str(broken)]), "no checkpoint at")
    one_error_line(capsys, main(["sample", str(broken)]), "truncated or corrupted")
    one_error_line(capsys, main(["score", str(names_run), "Ma✓"]), "characters the model never saw: '✓'")
    one_error_line(capsys, main(["score", str(names_run)]), "score takes texts or --file F")


def test_an_existing_run_is_never_overwritten(names_run, capsys):
    before = {p: p.read_bytes() for p in names_run.rglob("*") if p.is_file()}  # tensorboard/ too, when written
    one_error_line(capsys, main(["train", "--out", str(names_run), *TINY]), "already exists")
    one_error_line(capsys, main(["train", "--resume", str(names_run), "--hidden", "32"]),
                   "takes only --steps, --epochs or --minutes, got --hidden")
    assert {p: p.read_bytes() for p in names_run.rglob("*") if p.is_file()} == before


def test_a_short_text_trains_with_short_validation_windows(tmp_path, capsys):
    text = tmp_path / "short.txt"
    text.write_text("abcabcabcabcabcabcabcabcabcabcabcabcabcabcabc\n", encoding="utf-8")  # 46 chars, 5 for validation
    assert main(["train", "--data", str(text), "--seq-len", "8", "--batch-size", "2", "--out", str(tmp_path / "r"),
                 *TINY[:4], "--steps", "3"]) == 0
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("abcdefghi", encoding="utf-8")
    one_error_line(capsys, main(["train", "--data", str(tiny), "--out", str(tmp_path / "t")]), "too short for --batch-size 64")
    tiny.write_text("abc", encoding="utf-8")  # two characters to train on, one to validate on
    one_error_line(capsys, main(["train", "--data", str(tiny), "--batch-size", "1", "--seq-len", "1",
                                 "--out", str(tmp_path / "t")]), "is too short: its last 10% (validation) needs 2 tokens")


def test_version(capsys):
    from rnnkit import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"rnnkit {__version__}"
