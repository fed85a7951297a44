"""The README's examples run as written: the usage example trains the parity LSTM to a near-zero loss, the
ONNX example samples names from an exported language model."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_usage_example_learns_running_parity(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # it saves the model it trained
    usage = README.read_text(encoding="utf-8").split("## Usage", 1)[1]
    code = re.search(r"```python\n(.*?)```", usage, re.S).group(1)
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["loss"] < 0.01
    assert (tmp_path / "parity-lstm.safetensors").exists()
    assert "loss after 400 steps" in capsys.readouterr().out


def test_onnx_example_samples_from_an_exported_language_model(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime", reason='needs the onnx extra: pip install -e ".[onnx]"')
    from rnnkit.cli import main

    section = README.read_text(encoding="utf-8").split("## Deploy: ONNX", 1)[1]
    command = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    assert "rnnkit export runs/names-lstm --onnx names.onnx" in command
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--steps", "20", "--hidden", "16", "--out", "runs/names-lstm"]) == 0
    assert main(["export", "runs/names-lstm", "--onnx", "names.onnx"]) == 0
    capsys.readouterr()
    exec(compile(code, str(README), "exec"), {})
    names = capsys.readouterr().out.splitlines()
    assert len(names) == 5 and all(0 < len(name) <= 30 for name in names)
