"""The classify and generate tasks through main(argv): trained, saved, used, resumed; bad input as one line."""

import json

import numpy as np
import pytest

from rnnkit.checkpoint import load_checkpoint
from rnnkit.cli import main
from test_cli import one_error_line
from test_train import losses, sigterm_after

TINY = ["--hidden", "16", "--embed", "8", "--batch-size", "16", "--lr", "0.02", "--eval-every", "20"]


@pytest.fixture(scope="module")
def tsv(tmp_path_factory):
    """Words labelled by their vowel: a rule a model can learn from spelling."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(300):
        vowel = rng.choice(list("aeo"))
        word = "".join(rng.choice([vowel, *"bcdfgkl"], size=rng.integers(3, 9)))
        lines.append(f"{word}{vowel}\t{ {'a': 'alpha', 'e': 'echo', 'o': 'oscar'}[vowel]}")
    path = tmp_path_factory.mktemp("data") / "words.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def conll(tmp_path_factory):
    """Words joined without spaces, one character per line, B where a word starts: a small spaces."""
    rng = np.random.default_rng(1)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "ran", "to", "dog"]
    lines = []
    for _ in range(120):
        for word in rng.choice(words, size=rng.integers(2, 6)):
            lines += [f"{c}\t{'B' if i == 0 else 'I'}" for i, c in enumerate(word)]
        lines.append("")
    path = tmp_path_factory.mktemp("data") / "spaces.conll"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tagger_run(conll, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tag"
    assert main(["train", "--task", "tag", "--data", str(conll), "--steps", "150", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Short words and their reversals: a source -> target task of another length than one label."""
    rng = np.random.default_rng(2)
    words = ["".join(rng.choice(list("abcde"), size=rng.integers(2, 6))) for _ in range(400)]
    path = tmp_path_factory.mktemp("data") / "reverse.tsv"
    path.write_text("".join(f"{w}\t{w[::-1]}\n" for w in words), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def translator_run(pairs, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "translate"
    assert main(["train", "--task", "translate", "--data", str(pairs), "--steps", "150", "--seq-len", "8",
                 "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def classifier_run(tsv, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "classify"
    assert main(["train", "--task", "classify", "--data", str(tsv), "--bidirectional", "--pool", "max",
                 "--steps", "120", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def generator_run(tsv, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "generate"
    assert main(["train", "--task", "generate", "--data", str(tsv), "--steps", "40", "--out", str(out), *TINY]) == 0
    return out


def test_a_classifier_trains_reports_predicts_and_evaluates(classifier_run, tsv, capsys):
    assert {"best.safetensors", "last.safetensors", "confusion.png", "test_report.json", "loss.png"} <= {
        p.name for p in classifier_run.iterdir()}
    report = json.loads((classifier_run / "test_report.json").read_text())
    assert report["model"]["accuracy"] > 0.8 and set(report["per_class"]) == {"alpha", "echo", "oscar"}

    assert main(["predict", str(classifier_run), "bobba", "kokko", "--top", "2"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("alpha ") and rows[1].startswith("oscar ") and rows[0].endswith("\tbobba")
    assert main(["predict", str(classifier_run), "deke", "--json", "--top", "5"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["text"] == "deke" and [p["label"] for p in answer["labels"]][0] == "echo"
    assert len(answer["labels"]) == 3 and sum(p["p"] for p in answer["labels"]) == pytest.approx(1.0)

    assert main(["eval", str(classifier_run), "--data", str(tsv), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"accuracy", "macro_f1", "loss", "n"} and result["n"] == 300 and result["accuracy"] > 0.8

    assert main(["info", str(classifier_run)]) == 0
    info = capsys.readouterr().out
    assert "task: classify (a classifier)" in info and "bidirectional, max pooling" in info and "3 labels" in info


def test_a_generator_samples_by_label_scores_and_evaluates(generator_run, tsv, capsys):
    assert main(["sample", str(generator_run), "--label", "oscar", "-n", "5", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 5 and "novel" in captured.err
    assert main(["sample", str(generator_run), "--label", "echo", "--beam", "3", "-n", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["score", str(generator_run), "bakka", "--label", "alpha"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["eval", str(generator_run), "--data", str(tsv), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"loss", "perplexity", "bits_per_char"} and result["loss"] < np.log(12)  # below uniform
    assert main(["info", str(generator_run)]) == 0
    assert "task: generate" in capsys.readouterr().out


def test_a_classifier_judges_a_generators_samples(generator_run, classifier_run, capsys):
    assert main(["sample", str(generator_run), "--label", "alpha", "-n", "20", "--judge", str(classifier_run)]) == 0
    judged = capsys.readouterr().err.splitlines()[-1]
    assert judged.endswith(f"judged alpha by {classifier_run}") and int(judged.split("/")[0]) >= 0


def test_a_tagger_trains_tags_and_evaluates(tagger_run, conll, capsys):
    report = json.loads((tagger_run / "test_report.json").read_text())
    assert report["model"]["f1"] > 0.9 and len(report["baselines"]) == 2
    assert main(["predict", str(tagger_run), "thecatsat", "adog"]) == 0
    assert capsys.readouterr().out.splitlines() == ["the cat sat", "a dog"]
    assert main(["predict", str(tagger_run), "ran", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"text": "ran", "tokens": ["r", "a", "n"], "tags": ["B", "I", "I"]}
    assert main(["eval", str(tagger_run), "--data", str(conll), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"accuracy", "f1", "loss", "n"} and result["f1"] > 0.9
    assert main(["info", str(tagger_run)]) == 0
    assert "task: tag (a tagger)" in capsys.readouterr().out


def test_a_translator_decodes_plots_attention_and_evaluates(translator_run, pairs, tmp_path, capsys):
    report = json.loads((translator_run / "test_report.json").read_text())
    assert set(report["baselines"]) == {"copy the source"} and 0 <= report["model"]["exact_match"] <= 1
    assert (translator_run / "attention.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["predict", str(translator_run), "abc", "dd", "--plot-attention", str(tmp_path / "maps")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [row.split("\t")[1] for row in rows] == ["abc", "dd"]
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["attention-1.png", "attention-2.png"]
    assert main(["predict", str(translator_run), "abc", "--beam", "3", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"text", "translation"}
    assert main(["eval", str(translator_run), "--data", str(pairs), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"exact_match", "cer", "loss", "n"} and result["n"] == 400
    assert main(["info", str(translator_run)]) == 0
    assert "task: translate (an encoder-decoder)" in capsys.readouterr().out


def test_the_generate_report_names_novelty_and_the_judge(tsv, tmp_path, capsys):
    assert main(["train", "--task", "generate", "--data", str(tsv), "--steps", "5", "--out", str(tmp_path / "g"),
                 *TINY]) == 0
    printed = capsys.readouterr().out
    assert "a trigram per label" in printed and "judged as the label they were generated for" in printed
    assert "novel" in printed and "--label LABEL" in printed


@pytest.mark.parametrize("task", ["classify", "generate", "tag", "translate"])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tsv, conll, pairs, tmp_path, monkeypatch, task):
    data = {"tag": conll, "translate": pairs}.get(task, tsv)
    args = ["train", "--task", task, "--data", str(data), "--steps", "40", "--layers", "2", *TINY, "--eval-every", "10"]
    if task != "translate":  # the encoder-decoder has no dropout
        args += ["--dropout", "0.2"]
    assert main(args + ["--out", str(tmp_path / "whole")]) == 0
    sigterm_after(monkeypatch, 23)
    assert main(args + ["--out", str(tmp_path / "parts")]) == 143  # interrupted by SIGTERM, saved
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "parts" / "last.safetensors")[1]["step"] == 23
    assert main(["train", "--resume", str(tmp_path / "parts")]) == 0
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole") and len(losses(tmp_path / "whole")) == 40
    parts, whole = (load_checkpoint(tmp_path / run / "last.safetensors")[0] for run in ("parts", "whole"))
    assert parts.keys() == whole.keys() and all(np.array_equal(parts[k], whole[k]) for k in whole)


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--pool", "max"], "--pool does not apply to --task lm (it is for --task classify)"),
        (["--bidirectional"], "--bidirectional does not apply to --task lm"),
        (["--task", "generate", "--no-bidirectional"], "--bidirectional does not apply to --task generate"),
        (["--task", "classify", "--mode", "stream"], "--mode does not apply to --task classify"),
        (["--task", "classify", "--sample-every", "5"], "--sample-every does not apply to --task classify"),
        (["--task", "summarize"], "argument --task: invalid choice"),
        (["--task", "classify", "--data", "names"], "--data 'names': no such file (built-in: names-origin"),
        (["--task", "tag", "--pool", "max"], "--pool does not apply to --task tag"),
        (["--task", "tag", "--attention"], "--attention does not apply to --task tag"),
        (["--task", "translate", "--dropout", "0.1"], "--dropout does not apply to --task translate"),
        (["--task", "translate", "--data", "spaces"], "--data 'spaces': no such file (built-in: dates"),
        (["--task", "tag", "--data", "names-origin"], "--data 'names-origin': no such file (built-in: spaces"),
    ],
)
def test_flags_that_do_not_apply_are_errors(tmp_path, capsys, argv, expected):
    one_error_line(capsys, main(["train", "--out", str(tmp_path / "r"), *argv]), expected)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "content,expected",
    [("abc\tx\nno tab\n", "data.tsv:2: expected text<TAB>label"), ("abc\tx\nabd\t \n", "data.tsv:2: empty label"),
     ("abc\tx\nabd\tx\n", "has one class only ('x')")],
)
def test_bad_tsv_files_are_one_line(tmp_path, capsys, content, expected):
    path = tmp_path / "data.tsv"
    path.write_text(content, encoding="utf-8")
    for task in ("classify", "generate"):
        one_error_line(capsys, main(["train", "--task", task, "--data", str(path), "--out", str(tmp_path / "r")]),
                       expected)


@pytest.mark.parametrize(
    "content,expected",
    [("a\tB\nno tab\n\nb\tB\n", "tags.conll:2: expected token<TAB>tag"),
     ("a\tB\nb\t\n\nc\tI\n\nd\tB\n", "tags.conll:2: the token 'b' has no tag")],
)
def test_bad_conll_files_are_one_line(tmp_path, capsys, content, expected):
    path = tmp_path / "tags.conll"
    path.write_text(content, encoding="utf-8")
    one_error_line(capsys, main(["train", "--task", "tag", "--data", str(path), "--out", str(tmp_path / "r")]),
                   expected)


@pytest.mark.parametrize(
    "content,expected",
    [("abc\tcba\nabc\t \n", "pairs.tsv:2: empty target"), ("abc\tcba\n\tcba\n", "pairs.tsv:2: empty source"),
     ("abc\tcba\nabcdefghijk\tkjihgfedcba\n", "source 'abcdefghijk' has 11 tokens; the model reads 1 to 8")],
)
def test_bad_pair_files_are_one_line(tmp_path, capsys, content, expected):
    path = tmp_path / "pairs.tsv"
    path.write_text(content * 3, encoding="utf-8")
    one_error_line(capsys, main(["train", "--task", "translate", "--data", str(path), "--seq-len", "8",
                                 "--out", str(tmp_path / "r")]), expected)


def test_using_a_run_for_what_it_is_not_is_one_line(classifier_run, generator_run, tagger_run, translator_run,
                                                    tmp_path, capsys):
    lm = tmp_path / "lm"
    assert main(["train", "--steps", "2", "--hidden", "8", "--embed", "4", "--out", str(lm)]) == 0
    capsys.readouterr()
    one_error_line(capsys, main(["predict", str(lm), "Maria"]),
                   f"predict needs a classifier or a tagger or an encoder-decoder; {lm} is a language model (--task lm)")
    one_error_line(capsys, main(["sample", str(classifier_run)]), "sample needs a language model or a conditional")
    one_error_line(capsys, main(["sample", str(lm), "--label", "alpha"]), "--label is for a conditional generator (--task generate)")
    one_error_line(capsys, main(["sample", str(generator_run)]), "give --label, one of alpha, echo, oscar")
    one_error_line(capsys, main(["sample", str(generator_run), "--label", "zulu"]),
                   "labels never seen in training: 'zulu' (the run knows 3: alpha, echo, oscar)")
    one_error_line(capsys, main(["sample", str(generator_run), "--label", "alpha", "--judge", str(lm)]),
                   "--judge needs a classifier")
    one_error_line(capsys, main(["predict", str(classifier_run)]), "predict takes texts or --file F")
    one_error_line(capsys, main(["predict", str(classifier_run), "ab", "--top", "0"]), "--top must be a positive int")
    one_error_line(capsys, main(["predict", str(classifier_run), "ab§"]), "characters the model never saw: '§'")
    unseen = tmp_path / "unseen.tsv"
    unseen.write_text("bako\talpha\nbeke\tkilo\n", encoding="utf-8")
    one_error_line(capsys, main(["eval", str(classifier_run), "--data", str(unseen)]),
                   "labels never seen in training: 'kilo'")
    one_error_line(capsys, main(["eval", str(generator_run), "--data", str(unseen)]),
                   "labels never seen in training: 'kilo'")
    one_error_line(capsys, main(["predict", str(tagger_run), "the cat"]), "characters the model never saw: ' '")
    one_error_line(capsys, main(["sample", str(tagger_run)]), f"{tagger_run} is a tagger (--task tag)")
    one_error_line(capsys, main(["predict", str(translator_run), "abcdeabcde"]),
                   "source 'abcdeabcde' has 10 tokens; the model reads 1 to 8")
    one_error_line(capsys, main(["predict", str(translator_run), "abc", "--beam", "0"]), "--beam must be a positive int")
    odd = tmp_path / "odd.conll"
    odd.write_text("c\tB\na\tX\n", encoding="utf-8")
    one_error_line(capsys, main(["eval", str(tagger_run), "--data", str(odd)]), "labels never seen in training: 'X'")


@pytest.mark.parametrize("fixture,files,names", [
    ("classifier_run", ["m.onnx"], {"labels"}), ("generator_run", ["m.onnx"], {"labels", "start"}),
    ("tagger_run", ["m.onnx"], {"tags"}), ("translator_run", ["m-encoder.onnx", "m-decoder-step.onnx"],
                                           {"source_vocab", "target_vocab"}),
])
def test_every_task_exports_a_self_describing_onnx_file(request, tmp_path, capsys, fixture, files, names):
    onnx = pytest.importorskip("onnx", reason='needs the onnx extra: pip install -e ".[onnx]"')
    run = request.getfixturevalue(fixture)
    capsys.readouterr()  # the fixture's training output
    assert main(["export", str(run), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert capsys.readouterr().out.split() == [word for f in files for word in ("wrote", str(tmp_path / f))]
    for f in files:
        props = {p.key: json.loads(p.value) for p in onnx.load(str(tmp_path / f)).metadata_props}
        assert {f"rnnkit.{n}" for n in names} <= set(props)
        vocab = props["rnnkit.vocab" if "rnnkit.vocab" in props else "rnnkit.source_vocab"]
        assert vocab["itos"][vocab["eos"]] == "<EOS>" and vocab["itos"][vocab["pad"]] == "<PAD>"
