"""Choosing between the persistent loop and the layer's loop by measuring (engine/tuning.py, persistent.plan)."""

import json
import logging

import numpy as np
import pytest

import rnnkit
from rnnkit.engine import kernels, persistent, tuning


@pytest.fixture(autouse=True)
def choices(monkeypatch, tmp_path):
    """A machine with no choices yet: an empty cache folder, nothing loaded in this process."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tuning, "_choices", None)
    monkeypatch.setattr(persistent, "mode", "auto")
    monkeypatch.setattr(persistent, "ISA", "avx512")
    return tmp_path / "cache" / "engine.json"


def never(engine):
    raise AssertionError("measured where nothing was to be measured")


def faster(which):
    """A trial in which ``which`` ("loop", "rows" or "units") takes half the time of the others; it counts the
    ways it was called with."""
    calls = []

    def trial(engine):
        way = "loop" if engine is None else engine.split
        calls.append(way)
        return 1.0 if way == which else 2.0

    trial.calls = calls
    return trial


def lstm_group(H=64, dtype=np.float32, peephole=False):
    lstm = rnnkit.LSTM(4, H, dtype=dtype, peephole=peephole)
    return lstm.cell, lstm._group(lstm.params, 0, 0)


def test_plans_only_what_it_computes(monkeypatch):
    monkeypatch.setattr(persistent, "mode", "on")
    cell, p32 = lstm_group()
    assert persistent.plan(cell, p32, None, (40, 4, 4), True, never) is not None
    assert persistent.plan(*lstm_group(dtype=np.float64), None, (40, 4, 4), True, never) is None  # the reference
    assert persistent.plan(*lstm_group(48), None, (40, 4, 4), True, never) is None  # not whole chunks of 32
    gru = rnnkit.GRU(4, 64)
    assert persistent.plan(gru.cell, gru._group(gru.params, 0, 0), None, (40, 4, 4), True, never) is None
    assert persistent.plan(cell, p32, lambda *a: None, (40, 4, 4), True, never) is None  # a recording: every step
    monkeypatch.setattr(persistent, "mode", "off")
    assert persistent.plan(cell, p32, None, (40, 4, 4), True, never) is None


def test_auto_takes_what_was_measured_faster_and_keeps_it(choices, monkeypatch):
    monkeypatch.setattr(persistent, "workers", lambda: 2)
    cell, p = lstm_group()
    trial = faster("units")
    assert persistent.plan(cell, p, None, (40, 16, 4), True, trial).split == "units"
    ways = ["loop", "units", "rows"]  # 16 rows: a block of 8 or 6 for each of two workers
    assert trial.calls == ways + ways * tuning.ROUNDS  # one untimed call each, then in turn
    assert persistent.plan(cell, p, None, (40, 16, 4), True, never).split == "units"  # kept in this process
    kept = json.loads(choices.read_text())
    assert list(kept.values()) == [{"choice": "units", "ms": {"loop": 2000.0, "units": 1000.0, "rows": 2000.0}}]
    slower = faster("loop")
    assert persistent.plan(cell, p, None, (40, 16, 4), False, slower) is None  # inference is measured apart
    assert slower.calls and len(json.loads(choices.read_text())) == 2


def test_the_ways_measured_follow_the_workers_and_the_batch(monkeypatch):
    cell, p = lstm_group()
    monkeypatch.setattr(persistent, "workers", lambda: 2)
    trial = faster("units")
    assert persistent.plan(cell, p, None, (40, 2 * persistent.ROWS - 1, 4), True, trial).split == "units"
    assert set(trial.calls) == {"loop", "units"}  # too few rows to give each worker a block: no "rows"
    monkeypatch.setattr(persistent, "workers", lambda: 1)
    trial = faster("units")
    assert persistent.plan(cell, p, None, (40, 16, 4), True, trial) is None  # "units" was not measured: loop
    assert set(trial.calls) == {"loop", "rows"}  # one worker owns every row and unit


def test_a_new_process_reads_the_choices_kept_on_disk(monkeypatch):
    """A run resumed in another process must choose as the first did: the ways differ in float32 bits."""
    cell, p = lstm_group()
    assert persistent.plan(cell, p, None, (40, 16, 4), True, faster("loop")) is None
    monkeypatch.setattr(tuning, "_choices", None)  # as a new process starts
    assert persistent.plan(cell, p, None, (40, 16, 4), True, never) is None


def test_steps_share_a_choice_up_to_the_next_power_of_two():
    key = lambda T, training=True: tuning.key("avx2", 2, True, False, T, 32, 64, 256, training)
    assert key(33) == key(64) != key(65) == key(128)
    assert key(8) != key(9) and key(64) != key(64, training=False)
    assert key(8).startswith(tuning.machine("avx2")) and tuning.cpu_name() in key(8) and "B 32 T <= 8 F 64 H 256 training" in key(8)


def test_no_tuned_block_shape_or_too_few_steps_keeps_the_layers_loop_unmeasured(monkeypatch):
    cell, p = lstm_group()
    assert persistent.plan(cell, p, None, (persistent.MIN_STEPS - 1, 16, 4), True, never) is None
    monkeypatch.setattr(persistent, "ISA", None)  # e.g. ARM64, or x86 without AVX2 and FMA
    assert persistent.plan(cell, p, None, (40, 16, 4), True, never) is None
    monkeypatch.setattr(persistent, "mode", "on")
    assert persistent.plan(cell, p, None, (40, 16, 4), True, never) is not None  # forced: it still runs


def test_the_choice_is_logged(caplog, monkeypatch):
    monkeypatch.setattr(persistent, "workers", lambda: 2)
    cell, p = lstm_group(peephole=True)
    with caplog.at_level(logging.INFO, logger="rnnkit.engine"):
        persistent.plan(cell, p, None, (20, 16, 4), False, faster("rows"))
    [message] = caplog.messages
    assert "LSTM with peepholes B 16 T <= 32 F 4 H 64 inference" in message
    assert message.endswith(": loop 2000.00 ms, units 2000.00 ms, rows 1000.00 ms: rows")


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"k": {"choice": 1}}'])
def test_an_unreadable_file_is_measured_again_and_rewritten(choices, content, caplog):
    choices.parent.mkdir(parents=True)
    choices.write_text(content)
    cell, p = lstm_group()
    trial = faster("rows")
    with caplog.at_level(logging.WARNING, logger="rnnkit.engine"):
        assert persistent.plan(cell, p, None, (40, 16, 4), True, trial) is not None
    assert trial.calls
    assert [v["choice"] for v in json.loads(choices.read_text()).values()] == ["rows"]


def test_a_cache_it_cannot_write_still_chooses(monkeypatch, tmp_path, caplog):
    blocked = tmp_path / "a file"
    blocked.write_text("")
    monkeypatch.setenv("RNNKIT_CACHE", str(blocked / "cache"))  # a folder under a file: cannot be made
    cell, p = lstm_group()
    with caplog.at_level(logging.WARNING, logger="rnnkit.engine"):
        assert persistent.plan(cell, p, None, (40, 16, 4), True, faster("rows")) is not None
    assert any("could not keep" in m for m in caplog.messages)
    assert persistent.plan(cell, p, None, (40, 16, 4), True, never) is not None


@pytest.mark.skipif(kernels.ISA is None, reason="no tuned block shape for this CPU: auto never measures")
@pytest.mark.parametrize("training", [True, False])
def test_a_layer_measures_once_and_computes_what_the_chosen_loop_computes(monkeypatch, choices, training):
    """End to end: the first call of a shape times both loops on its own inputs, keeps one choice, and returns
    bit for bit what that loop returns when forced."""
    monkeypatch.setattr(persistent, "ISA", kernels.ISA)

    def run():
        layer = rnnkit.LSTM(8, 64, seed=0)
        x = np.random.default_rng(0).standard_normal((16, 12, 8), dtype=np.float32)
        y, (h, c) = layer.forward(x, training=training)
        if not training:
            return [y, h, c]
        dx, _ = layer.backward(np.ones_like(y))
        return [y, h, c, dx] + [layer.grads[k] for k in sorted(layer.grads)]

    chosen = run()
    [(key, made)] = json.loads(choices.read_text()).items()
    assert f"B 16 T <= 16 F 8 H 64 {'training' if training else 'inference'}" in key
    assert "loop" in made["ms"] and all(ms > 0 for ms in made["ms"].values())
    way = made["choice"]
    if way == "loop":
        monkeypatch.setattr(persistent, "mode", "off")
    else:
        monkeypatch.setattr(persistent, "plan", lambda cell, *a: persistent.Plan(cell.hidden_size, persistent.workers(), way))
    for ours, forced in zip(chosen, run()):
        np.testing.assert_array_equal(ours, forced)


@pytest.mark.skipif(kernels.ISA is None, reason="no tuned block shape for this CPU: auto never measures")
def test_info_shows_what_this_machine_chose_for_a_run(monkeypatch, tmp_path, capsys):
    from rnnkit.cli import main

    monkeypatch.setattr(persistent, "ISA", kernels.ISA)
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--hidden", "32", "--embed", "8", "--steps", "3", "--eval-every", "3",
                 "--sample-every", "1000"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out.splitlines()
    at = info.index(next(line for line in info if line.startswith("engine on this machine")))
    chosen = info[at + 1:]
    assert chosen and all("H 32" in line and " ms" in line for line in chosen)
    assert any("F 8 H 32 training: " in line for line in chosen)
    monkeypatch.setattr(persistent, "mode", "off")
    assert main(["info", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "engine: RNNKIT_PERSISTENT=off"


def test_a_choice_another_process_kept_meanwhile_wins(choices, monkeypatch):
    """MPI ranks on one machine measure at once: the first to write decides for all, so that they run and
    resume alike."""
    monkeypatch.setattr(persistent, "workers", lambda: 2)
    cell, p = lstm_group()
    monkeypatch.setattr(tuning, "_choices", {})  # this process has loaded the file: nothing for the key yet

    def trial(engine):  # while this process measures, another one keeps "loop" for the same key
        if not choices.exists():
            key = tuning.key(persistent.ISA, 2, persistent.short_blas_spin, False, 40, 16, 4, 64, True)
            choices.parent.mkdir(parents=True, exist_ok=True)
            choices.write_text(json.dumps({key: {"choice": "loop", "ms": {"loop": 3.0}}}))
        return 1.0 if engine is not None and engine.split == "rows" else 2.0

    assert persistent.plan(cell, p, None, (40, 16, 4), True, trial) is None  # the other's "loop", not "rows"
    assert [v["choice"] for v in json.loads(choices.read_text()).values()] == ["loop"]
    assert persistent.plan(cell, p, None, (40, 16, 4), True, never) is None  # and this process keeps it
