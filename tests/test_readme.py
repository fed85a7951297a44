"""The README's usage example runs as written and trains the parity LSTM to a near-zero loss."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_usage_example_learns_running_parity(capsys):
    usage = README.read_text(encoding="utf-8").split("## Usage", 1)[1]
    code = re.search(r"```python\n(.*?)```", usage, re.S).group(1)
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["loss"] < 0.01
    assert "loss after 400 steps" in capsys.readouterr().out
