"""Training runs: interrupted and resumed equals uninterrupted, signals save, divergence keeps the last checkpoint."""

import json
import signal
import subprocess
import sys

import pytest

from rnnkit.tasks import language_model as lm_task
from rnnkit.checkpoint import load_checkpoint
from rnnkit.cli import main
from rnnkit.train import Trainer

TINY = ["--hidden", "16", "--embed", "8", "--batch-size", "8", "--eval-every", "10", "--sample-every", "1000"]


def losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [record["loss"] for record in map(json.loads, lines) if "loss" in record]


def sigterm_after(monkeypatch, step: int) -> None:
    """The trainer receives SIGTERM right after training step ``step``."""
    original = Trainer._train_step

    def step_then_signal(self):
        record = original(self)
        if self.step == step:
            signal.raise_signal(signal.SIGTERM)
        return record

    monkeypatch.setattr(Trainer, "_train_step", step_then_signal)


@pytest.fixture
def stream_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the quick brown fox jumps over the lazy dog.\n" * 60, encoding="utf-8")
    return path


@pytest.mark.parametrize("data", ["names", "stream"])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch, stream_file, data):
    args = ["train", "--data", "names" if data == "names" else str(stream_file), "--steps", "40", "--layers", "2",
            "--dropout", "0.2", "--seq-len", "16", *TINY]
    assert main(args + ["--out", str(tmp_path / "whole")]) == 0

    sigterm_after(monkeypatch, 23)
    assert main(args + ["--out", str(tmp_path / "parts")]) == 128 + signal.SIGTERM  # 143: interrupted, saved
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "parts" / "last.safetensors")[1]["step"] == 23
    assert len(losses(tmp_path / "parts")) == 23

    assert main(["train", "--resume", str(tmp_path / "parts")]) == 0
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole")
    assert len(losses(tmp_path / "whole")) == 40


def test_ctrl_c_saves_and_exits_cleanly(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", "train", "--steps", "100000", "--out", str(out), *TINY],
        stderr=subprocess.PIPE, text=True,
    )
    for line in process.stderr:
        if line.startswith("step 10/"):
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130  # 128 + SIGINT, as a shell reports an interrupted command
    assert "interrupted at step" in rest and "Traceback" not in rest
    step = load_checkpoint(out / "last.safetensors")[1]["step"]
    assert 10 <= step < 100000 and f"interrupted at step {step}" in rest


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    real = lm_task.softmax_cross_entropy
    calls = []

    def nan_at_step_15(logits, y, mask):
        calls.append(1)
        loss, grad = real(logits, y, mask)
        return (float("nan") if len(calls) == 15 else loss), grad

    monkeypatch.setattr(lm_task, "softmax_cross_entropy", nan_at_step_15)
    out = tmp_path / "run"
    assert main(["train", "--steps", "40", "--out", str(out), *TINY, "--eval-every", "100"]) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("rnnkit: error: training stopped: the loss became nan at step 15")
    assert "last good checkpoint" in last and "Traceback" not in err
    assert load_checkpoint(out / "last.safetensors")[1]["step"] == 0


def test_each_task_declares_its_defaults_and_options_in_its_module():
    """A task's defaults for the shared options and its own options live in its module; a saved config holds
    the shared options and that task's, nothing else."""
    from dataclasses import asdict, fields

    from rnnkit import tasks
    from rnnkit.config import TrainConfig

    names = {f.name for f in fields(TrainConfig)} - {"options"}
    for task, module in tasks.MODULES.items():
        assert set(module.DEFAULTS) <= names, task
        config = TrainConfig(task=task)
        assert config.data == module.DEFAULTS["data"] and isinstance(config.options, module.Options)
        for option in fields(module.Options):
            assert option.metadata["help"], (task, option.name)  # what rnnkit train --help shows
        saved = asdict(config)
        assert set(saved) == names | {"options"}
        assert set(saved["options"]) == {f.name for f in fields(module.Options)}
        assert TrainConfig.from_saved(saved) == config
    with pytest.raises(ValueError, match="--pool does not apply to --task tag"):
        TrainConfig(task="tag", options={"pool": "max"})
    with pytest.raises(ValueError, match="--pool must be one of"):
        TrainConfig(task="classify", options={"pool": "median"}).check()


def test_a_config_saved_before_options_had_a_task_of_their_own_still_reads():
    """Runs saved by earlier versions hold every task's options side by side, those of other tasks None."""
    from rnnkit.config import TrainConfig

    flat = {"task": "classify", "data": "names-origin", "mode": None, "sample_every": None, "pool": "max",
            "attention": None, "bidirectional": False, "dropout": 0.25, "encoding": None, "init": None, "hidden": 8}
    config = TrainConfig.from_saved(flat)
    assert (config.options.pool, config.options.bidirectional, config.options.dropout) == ("max", False, 0.25)
    assert config.hidden == 8 and not hasattr(config, "pool")


def test_patience_stops_training_when_validation_no_longer_improves(tmp_path, capsys):
    """With a learning rate too small to move float32 weights, every validation after the first is no better:
    --patience 2 stops at the third, says why in the log and in metrics.jsonl, and keeps the best checkpoint."""
    out = tmp_path / "run"
    assert main(["train", *TINY, "--eval-every", "2", "--steps", "40", "--lr", "1e-12", "--patience", "2",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "stopping early: 2 validations without a lower loss (--patience 2)" in err and "at step 2," in err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["stopped"] == "patience" and records[-1]["step"] == 6
    meta = load_checkpoint(out / "last.safetensors")[1]
    assert (meta["step"], meta["best_step"], meta["stale_validations"]) == (6, 2, 2)
    assert load_checkpoint(out / "best.safetensors")[1]["step"] == 2


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_a_bad_patience_is_one_line(value, tmp_path, capsys):
    code = main(["train", *TINY, "--steps", "2", "--patience", value, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "--patience" in err[0]


def test_a_run_config_file_trains_and_every_run_writes_the_one_that_reproduces_it(tmp_path, capsys):
    """--config reads a TOML file (the task's own options under [options]), flags beside it win, and the run
    directory's config.toml, given back to --config, trains the same run bit for bit."""
    config = tmp_path / "run.toml"
    config.write_text('task = "classify"\nhidden = 8\nembed = 4\nsteps = 3\neval_every = 3\n\n'
                      '[options]\npool = "max"\ndropout = 0.25\n', encoding="utf-8")
    first = tmp_path / "first"
    assert main(["train", "--config", str(config), "--hidden", "12", "--out", str(first)]) == 0
    saved = load_checkpoint(first / "last.safetensors")[1]["config"]
    assert (saved["task"], saved["hidden"], saved["embed"], saved["options"]["pool"]) == ("classify", 12, 4, "max")
    assert 'pool = "max"' in (first / "config.toml").read_text(encoding="utf-8")
    again = tmp_path / "again"
    assert main(["train", "--config", str(first / "config.toml"), "--out", str(again)]) == 0
    one, two = (load_checkpoint(run / "last.safetensors")[0] for run in (first, again))
    assert one.keys() == two.keys() and all((one[k] == two[k]).all() for k in one)


@pytest.mark.parametrize("text,expected", [
    ("hidden = 8\npool = 'max'\n", "no such option: pool (a task's own options go under [options])"),
    ("hidden = \n", "could not be read"),
    ("task = 'classify'\n[options]\npool = 'median'\n", "--pool must be one of"),
    ("task = 'lm'\n[options]\npool = 'max'\n", "--pool does not apply to --task lm"),
])
def test_a_bad_run_config_file_is_one_line(text, expected, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(text, encoding="utf-8")
    code = main(["train", "--config", str(config), "--steps", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and expected in err[0], err
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "could not be read" in capsys.readouterr().err


def tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] from the TensorBoard event files in ``folder`` (TFRecord framing of Event protos)."""
    import struct

    from tensorboardX.proto import event_pb2

    scalars: dict[str, list] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (size,) = struct.unpack("<Q", data[at : at + 8])
            event = event_pb2.Event.FromString(data[at + 12 : at + 12 + size])
            at += 12 + size + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_event_files_hold_the_metrics_of_every_step(tmp_path, capsys):
    pytest.importorskip("tensorboardX")
    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "6", "--eval-every", "3", "--tensorboard", "--out", str(out)]) == 0
    scalars = tensorboard_scalars(out / "tensorboard")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [(r["step"], r["loss"]) for r in records if "loss" in r]
    assert [s for s, _ in scalars["train/loss"]] == [s for s, _ in steps] == list(range(1, 7))
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([v for _, v in steps], rel=1e-6)
    assert [s for s, _ in scalars["valid/loss"]] == [3, 6] and "train/grad_norm" in scalars
    assert main(["train", *TINY, "--steps", "2", "--no-tensorboard", "--out", str(tmp_path / "none")]) == 0
    assert not (tmp_path / "none" / "tensorboard").exists()


def test_tensorboard_without_tensorboardx_is_one_line(tmp_path, capsys, monkeypatch):
    from rnnkit import config

    monkeypatch.setattr(config, "installed", lambda module: module != "tensorboardX")  # as if not installed
    code = main(["train", *TINY, "--steps", "2", "--tensorboard", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err == ['rnnkit: error: --tensorboard needs tensorboardX: pip install "rnnkit[tensorboard]"']
    assert not (tmp_path / "run").exists()
