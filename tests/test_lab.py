"""The long-memory problems and their memoryless baselines; the lab's four experiments on tiny settings
through main(argv), their JSON and PNG, reproducible from the seed; parameter budgets; bad input."""

import json
import math

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.data.memory import MemoryBatches, examples, memoryless_loss
from rnnkit.lab import hidden_for_budget
from rnnkit.lab.memory import count_params
from rnnkit.runs import load_run
from test_cli import one_error_line


def test_the_adding_problem_marks_one_step_in_each_half_and_answers_their_sum():
    x, y = examples("adding", 500, 10, np.random.default_rng(0))
    assert x.shape == (500, 10, 2) and y.shape == (500,)
    marks = x[:, :, 1]
    assert (marks.sum(axis=1) == 2).all() and (marks[:, :5].sum(axis=1) == 1).all()
    np.testing.assert_allclose(y, (x[:, :, 0] * marks).sum(axis=1), rtol=1e-6)
    big = examples("adding", 20000, 10, np.random.default_rng(1))[1]
    assert np.mean((big - 1.0) ** 2) == pytest.approx(memoryless_loss("adding", 10), abs=0.005)


def test_the_copy_problem_and_the_first_symbol():
    x, y = examples("copy", 4, 7, np.random.default_rng(0))
    assert x.shape == y.shape == (4, 27)
    assert (x[:, :10] >= 1).all() and (x[:, :10] <= 8).all() and (x[:, 16] == 9).all()
    assert (x[:, 10:16] == 0).all() and (x[:, 17:] == 0).all()
    np.testing.assert_array_equal(y[:, -10:], x[:, :10])
    assert (y[:, :-10] == 0).all()
    assert memoryless_loss("copy", 7) == pytest.approx(10 * math.log(8) / 27)
    x, y = examples("first", 5, 6, np.random.default_rng(0))
    np.testing.assert_array_equal(y, x[:, 0])
    with pytest.raises(ValueError, match="memory task must be one of adding, copy, first"):
        examples("parity", 1, 3, np.random.default_rng(0))


def test_batches_depend_on_seed_epoch_and_index_only():
    a, b = MemoryBatches("adding", 4, 6, seed=3), MemoryBatches("adding", 4, 6, seed=3)
    np.testing.assert_array_equal(a.batch(2, 5)[0], b.batch(2, 5)[0])
    assert not np.array_equal(a.batch(2, 5)[0], a.batch(2, 6)[0])


def test_a_budget_picks_the_hidden_size_whose_count_is_nearest():
    count = count_params("adding", 50)
    budget = count("lstm", 64)
    assert hidden_for_budget("lstm", budget, count) == 64
    for cell in ("rnn", "gru"):
        h = hidden_for_budget(cell, budget, count)
        assert abs(count(cell, h) - budget) <= min(abs(count(cell, h + 1) - budget), abs(count(cell, h - 1) - budget))


def test_the_memory_task_trains_through_the_one_loop(tmp_path, capsys):
    out = tmp_path / "copy"
    assert main(["train", "--task", "memory", "--data", "copy", "--seq-len", "5", "--steps", "4", "--hidden", "8",
                 "--batch-size", "4", "--out", str(out)]) == 0
    assert "an answer that remembers nothing: 2.07944" not in capsys.readouterr().out  # copy's is 10 ln 8 / 25
    assert load_run(out).task == "memory"
    assert main(["info", str(out)]) == 0
    assert "the copy problem, T = 5" in capsys.readouterr().out
    assert main(["eval", str(out), "--data", "copy", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 2000 and result["baseline"] == pytest.approx(10 * math.log(8) / 25) and result["loss"] > 0
    one_error_line(capsys, main(["eval", str(out), "--data", "adding"]), "--data must be 'copy'")
    one_error_line(capsys, main(["train", "--task", "memory", "--data", "parity", "--steps", "1"]),
                   "memory task must be one of adding, copy, first")


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_lab_memory_writes_results_that_its_seed_reproduces(tmp_path, capsys):
    argv = ["lab", "memory", "--lengths", "4,6", "--steps", "3", "--cells", "rnn,lstm"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    a = read(tmp_path / "a" / "results.json")
    assert a == read(tmp_path / "b" / "results.json")
    assert a["task"] == "adding" and a["baseline"] == pytest.approx(1 / 6)
    assert [(r["cell"], r["T"]) for r in a["runs"]] == [("rnn", 4), ("lstm", 4), ("rnn", 6), ("lstm", 6)]
    assert all(set(r) == {"cell", "T", "hidden", "params", "test_loss", "baseline"} for r in a["runs"])
    assert (tmp_path / "a" / "memory.png").exists() and (tmp_path / "a" / "runs" / "lstm-T6" / "best.safetensors").exists()
    assert "test loss" in capsys.readouterr().out


def test_lab_gradients_records_every_step_before_and_after_training(tmp_path, capsys):
    assert main(["lab", "gradients", "--length", "12", "--steps", "3", "--out", str(tmp_path)]) == 0
    result = read(tmp_path / "gradients.json")
    assert set(result["cells"]) == {"rnn", "gru", "lstm"}
    for cell, entry in result["cells"].items():
        assert len(entry["initial"]["h"]) == len(entry["trained"]["h"]) == 12
        assert len(entry["initial_jacobian"]) == 12 and entry["initial_jacobian"][0] == pytest.approx(1.0)
        assert all(n >= 0 for n in entry["initial"]["h"]) and entry["initial"]["h"][-1] > 0
    assert "c" in result["cells"]["lstm"]["initial"]
    assert (tmp_path / "gradients.png").exists()
    capsys.readouterr()
    assert main(["lab", "gradients", "--length", "12", "--steps", "3", "--cells", "rnn", "--json",
                 "--out", str(tmp_path / "again")]) == 0
    assert json.loads(capsys.readouterr().out) == read(tmp_path / "again" / "gradients.json")


def test_lab_clipping_catches_the_divergence_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    assert main(["lab", "clipping", "--steps", "6", "--lr", "1e6", "--out", str(tmp_path)]) == 0
    result = read(tmp_path / "clipping.json")
    modes = {r["clip_mode"]: r for r in result["runs"]}
    assert set(modes) == {"none", "value", "norm"}
    assert modes["none"]["diverged_at"] is not None and "became" in modes["none"]["diverged"]
    assert load_run(tmp_path / "runs" / "none", which="last").meta["step"] < 6
    assert 0.0 <= modes["norm"]["clipped_share"] <= 1.0
    assert (tmp_path / "clipping.png").exists()


def test_lab_gates_shows_a_trained_models_gates_over_a_text(tmp_path, capsys):
    assert main(["lab", "gates", "--steps", "3", "--text", "Ada", "--out", str(tmp_path)]) == 0
    result = read(tmp_path / "gates.json")
    assert result["tokens"] == ["<EOS>", "A", "d", "a"] and set(result["gates"]) == {"i", "f", "o", "c"}
    assert all(np.shape(v) == (16, 4) for v in result["gates"].values())
    assert all(0 <= x <= 1 for x in np.ravel(result["gates"]["f"]))
    assert (tmp_path / "gates.png").exists()
    rnn_lm = tmp_path / "runs" / "rnn"
    assert main(["train", "--cell", "rnn", "--steps", "2", "--hidden", "8", "--out", str(rnn_lm)]) == 0
    one_error_line(capsys, main(["lab", "gates", "--run", str(rnn_lm), "--out", str(tmp_path / "x")]),
                   "needs a language model with an LSTM or GRU")


@pytest.mark.parametrize("argv,expected", [
    (["memory", "--lengths", "10,x"], "--lengths must be comma-separated positive ints"),
    (["memory", "--cells", "lstm,tcn"], "--cells must be among rnn, gru, lstm"),
    (["clipping", "--steps", "0"], "--steps must be positive, got 0"),
])
def test_bad_lab_options_are_one_line(tmp_path, capsys, argv, expected):
    one_error_line(capsys, main(["lab", *argv, "--out", str(tmp_path)]), expected)
