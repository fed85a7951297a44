"""Nothing a run writes can break it: real runs killed with SIGKILL at random moments resume to the same
weights, bit for bit; a torn metrics line, a stale temporary file and a corrupt cache are recovered from."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from rnnkit.checkpoint import load_checkpoint
from rnnkit.cli import main
from rnnkit.files import read_jsonl
from test_cli_music import folder  # noqa: F401  (fixtures: thirty small MIDI tunes,
from test_cli_tasks import pairs  # noqa: F401  and words beside their reversals)
from test_train import sigterm_after

TASKS = ("lm", "classify", "generate", "tag", "translate", "memory", "music")

TINY = ["--hidden", "16", "--embed", "8", "--batch-size", "8", "--eval-every", "4", "--steps", "36", "--seed", "3"]


def task_args(task, pairs, folder):
    """Every task, trained in seconds: on its built-in data, or a small file or folder (translate's dates
    validates on 3,600 pairs; the built-in music corpora take a minute to parse)."""
    return {"lm": ["--task", "lm"], "classify": ["--task", "classify"], "generate": ["--task", "generate"],
            "tag": ["--task", "tag"], "translate": ["--task", "translate", "--data", str(pairs), "--seq-len", "8"],
            "memory": ["--task", "memory", "--seq-len", "30"],
            "music": ["--task", "music", "--data", str(folder), "--seq-len", "16", "--sample-every", "1000"]}[task]


def weights(run_dir):
    arrays, meta = load_checkpoint(run_dir / "last.safetensors")
    return arrays, meta["step"]


def train_losses(run_dir):
    return [r["loss"] for r in read_jsonl(run_dir / "metrics.jsonl")[0] if "loss" in r]


def kill_at_random(command, run_dir, rng) -> bool:
    """Start ``command``; once the run has a checkpoint, SIGKILL it after a random delay. True when it was
    killed, False when it finished first."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run_dir / "last.safetensors").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 1.5))
    finished = process.poll() is not None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    return not finished


@pytest.mark.parametrize("task", TASKS)
def test_a_run_killed_at_random_moments_resumes_to_the_same_weights(tmp_path, monkeypatch, pairs, folder, task):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))  # the killed processes' too
    args = ["train", *task_args(task, pairs, folder), *TINY]
    assert main(args + ["--out", str(tmp_path / "whole")]) == 0
    whole, steps = weights(tmp_path / "whole")

    parts = tmp_path / "parts"
    rnnkit = [sys.executable, "-m", "rnnkit"]
    rng = np.random.default_rng(TASKS.index(task))
    kills = 0
    command = rnnkit + args + ["--out", str(parts)]
    for _ in range(3):
        kills += kill_at_random(command, parts, rng)
        command = rnnkit + ["train", "--resume", str(parts)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert kills >= 1
    resumed, resumed_steps = weights(parts)
    assert resumed_steps == steps
    assert resumed.keys() == whole.keys()
    for name in whole:
        np.testing.assert_array_equal(resumed[name], whole[name], err_msg=name)
    assert train_losses(parts) == train_losses(tmp_path / "whole")
    assert not list(parts.glob(".*.tmp"))


def test_a_torn_metrics_line_is_dropped_and_the_run_continues(tmp_path, monkeypatch, capsys):
    args = ["train", *TINY, "--steps", "24"]
    assert main(args + ["--out", str(tmp_path / "whole")]) == 0
    sigterm_after(monkeypatch, 10)
    assert main(args + ["--out", str(tmp_path / "parts")]) == 143
    monkeypatch.undo()
    with open(tmp_path / "parts" / "metrics.jsonl", "a", encoding="utf-8") as metrics:
        metrics.write('{"step": 11, "loss": 2.71')  # a kill mid-write
    stale = tmp_path / "parts" / ".last.safetensors.123-abcd.tmp"
    stale.write_bytes(b"half a checkpoint")
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "parts")]) == 0
    assert "dropped 1 unreadable line (a crash mid-write)" in capsys.readouterr().err
    assert train_losses(tmp_path / "parts") == train_losses(tmp_path / "whole")
    resumed = weights(tmp_path / "parts")[0]
    for name, value in weights(tmp_path / "whole")[0].items():
        np.testing.assert_array_equal(resumed[name], value)
    assert not stale.exists()


def test_the_log_reaches_the_disk_before_the_checkpoint(tmp_path, monkeypatch):
    """A crash between the two leaves the log ahead of the checkpoint (trimmed on resume), never behind."""
    import rnnkit.train as train

    seen = []
    real = train.save_checkpoint

    def save_and_look(path, arrays, meta):
        if path.name == "last.safetensors" and meta["step"]:
            steps = [r["step"] for r in read_jsonl(path.parent / "metrics.jsonl")[0] if "loss" in r]
            seen.append((meta["step"], max(steps)))
        real(path, arrays, meta)

    monkeypatch.setattr(train, "save_checkpoint", save_and_look)
    assert main(["train", *TINY, "--steps", "12", "--out", str(tmp_path / "r")]) == 0
    assert seen and all(step == logged for step, logged in seen)


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temporary(tmp_path, monkeypatch, capsys):
    import rnnkit.files as files

    out = tmp_path / "r"
    assert main(["train", *TINY, "--steps", "8", "--out", str(out)]) == 0
    before = (out / "last.safetensors").read_bytes()
    real_replace = os.replace

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full_disk)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--steps", "12"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "rnnkit: error: [Errno 28] No space left on device"
    assert "Traceback" not in err
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert (out / "last.safetensors").read_bytes() == before
    assert not list(out.glob(".*.tmp"))


def test_a_corrupt_music_cache_is_rebuilt(tmp_path, monkeypatch, capsys, folder):
    from rnnkit.data.music import load_music

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    first = load_music(str(folder), "events", progress=False)
    (cache,) = (tmp_path / "cache" / "music").glob("*.json")
    for broken in (cache.read_bytes()[: len(cache.read_bytes()) // 2], b"", b'{"encoding": "events"}', b"\xff\xfe"):
        cache.write_bytes(broken)
        again = load_music(str(folder), "events", progress=False)
        assert again.pieces == first.pieces and again.titles == first.titles
        assert "is unreadable" in capsys.readouterr().err
        assert json.loads(cache.read_bytes())["pieces"] == first.pieces  # rewritten whole


def test_two_runs_building_the_same_cache_at_once_both_get_it_whole(tmp_path, folder):
    env = {**os.environ, "RNNKIT_CACHE": str(tmp_path / "cache")}
    load = ("import sys; from rnnkit.data.music import load_music; "
            "print(len(load_music(sys.argv[1], 'events', progress=False).pieces))")
    builders = [subprocess.Popen([sys.executable, "-c", load, str(folder)], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [b.communicate(timeout=300) for b in builders]
    assert [b.returncode for b in builders] == [0, 0], results
    assert results[0][0] == results[1][0] and int(results[0][0]) > 0
    (cache,) = (tmp_path / "cache" / "music").glob("*.json")
    assert len(json.loads(cache.read_bytes())["pieces"]) == int(results[0][0])
    assert not list(cache.parent.glob(".*.tmp"))
