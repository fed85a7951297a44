"""Adding a task is adding one module to ``tasks.MODULES``: a tiny task defined here (is the count of 1s in a
string of 0s and 1s odd?) trains, predicts and evaluates through the command line, and shows its option in
``rnnkit train --help``, with nothing else in rnnkit changed."""

import types
from dataclasses import dataclass

import numpy as np
import pytest

from rnnkit import tasks
from rnnkit.cli import main
from rnnkit.data.batching import LabelledBatches
from rnnkit.losses import softmax_cross_entropy
from rnnkit.models import SequenceClassifier
from rnnkit.options import option
from rnnkit.tasks.base import missing, model_line, parameters_line, run_lines


def strings(count: int, seed: int, length: int = 6) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(["0", "1"], size=length)) for _ in range(count)]


def odd(text: str) -> int:
    return text.count("1") % 2


@dataclass
class Options:
    length: int = option(6, "digits in each string")


def build_model(config, meta):
    return SequenceClassifier(2, vocab_size=3, cell=config.cell, hidden_size=config.hidden, embed_size=config.embed,
                              seed=config.seed)


def encode(texts):
    return [np.array([int(c) + 1 for c in text]) for text in texts]  # 0 pads


class Task:
    averages_over = "sequences"

    def __init__(self, config, meta=None):
        self.config = config
        self.model = build_model(config, meta)
        train, valid = strings(512, 1, config.options.length), strings(128, 2, config.options.length)
        self.batches = LabelledBatches(encode(train), [odd(t) for t in train], config.batch_size, 16, 0, config.seed)
        self.valid = LabelledBatches(encode(valid), [odd(t) for t in valid], 128, 16, 0)

    def train_step(self, batch, carry):
        x, mask, y = batch
        loss, dlogits = softmax_cross_entropy(self.model.forward(x, mask), y)
        self.model.backward(dlogits)
        return loss, None, int(mask.sum())

    def validate(self):
        x, mask, y = self.valid.batch(0, 0)
        loss, _ = softmax_cross_entropy(self.model.forward(x, mask, training=False), y)
        return {"loss": loss}

    def describe_validation(self, metrics):
        return f"loss {metrics['loss']:.4f}"

    def show(self, seed):
        return []

    def metadata(self):
        return {"corpus": "parity"}

    def describe(self):
        return f"parity of {self.config.options.length} digits, {self.model.num_params} parameters"

    def report(self, run_dir, best_loss):
        return [f"best validation loss {best_loss:.4f}; always guessing: {np.log(2):.4f}"]


def predict_texts(run, texts):
    x, mask = LabelledBatches(encode(texts), [0] * len(texts), len(texts), 16, 0).batch(0, 0)[:2]
    return [{"text": t, "odd": bool(k)} for t, k in zip(texts, run.model.forward(x, mask, training=False).argmax(1))]


def evaluate_data(run, data):
    texts = [line for line in open(data, encoding="utf-8").read().split() if line]
    right = sum(r["odd"] == bool(odd(r["text"])) for r in predict_texts(run, texts))
    return {"accuracy": right / len(texts)}, f"{right}/{len(texts)} right"


PARITY = types.SimpleNamespace(
    DEFAULTS={"data": "parity", "cell": "gru", "embed": 4, "steps": 60, "batch_size": 32}, Options=Options,
    DATA="parity (made on the fly)", WHAT="a parity checker", NEXT="check with: rnnkit predict {out} 0110",
    Task=Task, build_model=build_model, evaluate_data=evaluate_data, predict_texts=predict_texts,
    PREDICT_OPTIONS=(), show_prediction=lambda run, record: f"{record['text']} {'odd' if record['odd'] else 'even'}",
    info=lambda config, meta: [f"task: parity ({PARITY.WHAT})", model_line(config), parameters_line(meta),
                               *run_lines(meta, None)])


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(tasks.MODULES, "parity", PARITY)


def test_the_tiny_task_is_a_task():
    assert missing(PARITY) == []
    assert missing(types.SimpleNamespace(WHAT="half a task")) != []
    assert all(missing(module) == [] for module in tasks.MODULES.values())


def test_a_registered_task_trains_predicts_and_evaluates_from_the_command_line(registered, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--task", "parity", "--hidden", "16", "--length", "4", "--eval-every", "20",
                 "--out", str(out)]) == 0
    assert f"check with: rnnkit predict {out} 0110" in capsys.readouterr().out
    assert main(["predict", str(out), "0110", "0111", "--json"]) == 0
    assert [line.startswith('{"text": "011') for line in capsys.readouterr().out.splitlines()] == [True, True]
    data = tmp_path / "strings.txt"
    data.write_text("\n".join(strings(40, 3, 4)), encoding="utf-8")
    assert main(["eval", str(out), "--data", str(data)]) == 0
    assert capsys.readouterr().out.strip().endswith("/40 right")
    assert main(["info", str(out)]) == 0
    assert capsys.readouterr().out.startswith("task: parity (a parity checker)")


def test_a_registered_task_has_its_options_in_help_and_refuses_others(registered, capsys):
    assert main(["train", "--task", "parity", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "options of --task parity" in shown and "digits in each string (default 6)" in shown
    assert "--pool" not in shown and "--task parity: " not in shown
    assert main(["train", "--task", "parity", "--pool", "max"]) == 1
    assert "--pool does not apply to --task parity (it is for --task classify)" in capsys.readouterr().err


def test_train_help_shows_each_option_with_the_tasks_that_take_it_and_their_defaults(capsys):
    assert main(["train", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # as one line, however argparse wrapped it
    assert "--task classify: how the steps' outputs become one vector (default last)" in shown
    assert "dropout between stacked layers and before the output (default: lm 0.0, classify 0.5," in shown
    assert "--cell {rnn,rnn-relu,gru,lstm} the recurrent cell (rnn is tanh, rnn-relu ReLU) (default: lm lstm, " \
           "classify gru," in shown
    assert main(["train", "--task", "classify", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "the recurrent cell (rnn is tanh, rnn-relu ReLU) (default gru)" in shown and "--encoding" not in shown
