"""Run folders written by earlier versions still load and work: tiny runs of every task, as an earlier rnnkit
saved them (``tests/fixtures/runs``, made by ``tests/fixtures/make_runs.py``; ``MADE_WITH`` names the commit).
Their configs hold every task's options side by side, as configs did before each task had its own."""

import json
import pathlib
import shutil

import pytest

from rnnkit.checkpoint import load_checkpoint
from rnnkit.cli import main
from rnnkit.runs import load_run

RUNS = pathlib.Path(__file__).parent / "fixtures" / "runs"
TASKS = ("lm", "classify", "generate", "tag", "translate", "music", "memory")


@pytest.mark.parametrize("task", TASKS)
def test_an_old_run_loads_with_its_options(task, capsys):
    saved = load_checkpoint(RUNS / task / "best.safetensors")[1]["config"]
    assert "options" not in saved and "pool" in saved  # the old form: one flat union
    run = load_run(RUNS / task)
    assert run.task == task and run.model.num_params > 0
    for name, value in vars(run.config.options).items():
        assert value == saved[name], (task, name)  # this task's options, as they were
    assert main(["info", str(RUNS / task)]) == 0
    assert capsys.readouterr().out.startswith(f"task: {task} (")


@pytest.mark.parametrize("task,argv,printed", [
    ("lm", ["sample", "-n", "2", "--seed", "0"], None),
    ("lm", ["score", "anna"], "log P"),
    ("generate", ["sample", "-n", "2", "--label", "Czech"], None),
    ("classify", ["predict", "Maria", "--top", "2"], "Maria"),
    ("tag", ["predict", "helloworld"], "l"),  # the text cut into words
    ("translate", ["predict", "3 May 2001"], "3 May 2001"),
])
def test_an_old_run_does_what_its_task_does(task, argv, printed, capsys):
    command, *rest = argv
    assert main([command, str(RUNS / task), *rest]) == 0
    out = capsys.readouterr().out
    assert out.strip() and (printed is None or printed in out)


def test_an_old_music_run_improvises(tmp_path, capsys):
    assert main(["sample", str(RUNS / "music"), "-n", "1", "--bars", "2", "--seed", "0", "--out", str(tmp_path)]) == 0
    assert "sample-1.mid" in capsys.readouterr().out and (tmp_path / "sample-1.mid").exists()


def test_an_old_run_resumes_and_saves_the_new_form(tmp_path):
    run = tmp_path / "lm"
    shutil.copytree(RUNS / "lm", run)
    assert main(["train", "--resume", str(run), "--steps", "3"]) == 0
    arrays, meta = load_checkpoint(run / "last.safetensors")
    assert meta["step"] == 3 and meta["config"]["options"]["dropout"] == 0.0 and "pool" not in meta["config"]


def test_score_and_info_print_json_for_scripts(capsys):
    assert main(["score", str(RUNS / "lm"), "anna", "bob", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records] == ["anna", "bob"] and all(r["unit"] == "char" for r in records)
    assert all(r["log_prob"] < 0 and r["perplexity"] > 1 for r in records)
    assert main(["info", str(RUNS / "classify"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["task"] == "classify" and info["config"]["options"]["pool"] == "last" and info["step"] == 2
    assert info["lines"][0] == "task: classify (a classifier)"


def test_sample_prints_json_for_scripts(tmp_path, capsys):
    assert main(["sample", str(RUNS / "lm"), "-n", "3", "--seed", "1", "--json"]) == 0
    assert [set(json.loads(line)) for line in capsys.readouterr().out.splitlines()] == [{"text"}] * 3
    assert main(["sample", str(RUNS / "lm"), "-n", "2", "--beam", "2", "--json"]) == 0
    assert all(json.loads(line)["log_prob"] < 0 for line in capsys.readouterr().out.splitlines())
    assert main(["sample", str(RUNS / "music"), "-n", "1", "--bars", "1", "--seed", "0", "--json",
                 "--out", str(tmp_path)]) == 0
    record = json.loads(capsys.readouterr().out)  # a piece may end at once: its token count may be 0
    assert set(record) == {"tokens", "files"} and any(f.endswith("sample-1.mid") for f in record["files"])
