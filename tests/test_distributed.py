"""Data-parallel training on MPI: 2 ranks with global batch B equal 1 process with batch B.

The tests launch ``mpiexec -n 2`` (MPICH from the ``mpi`` extra, or any MPI on the PATH) and skip, saying why,
where no launcher is installed. Each rank runs with one BLAS thread, as the README advises.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rnnkit.checkpoint import load_checkpoint
from rnnkit.cli import main
from rnnkit.interop import distributed

MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ["PATH"]]))
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason='no MPI launcher: pip install -e ".[mpi]" installs MPICH')
pytest.importorskip("mpi4py", reason='the MPI tests need the mpi extra: pip install -e ".[mpi]"') if MPIEXEC else None

STEP = """
import sys
import numpy as np
from rnnkit.interop import distributed
from rnnkit.losses import softmax_cross_entropy
from rnnkit.models import LanguageModel
from rnnkit.optim import Adam, clip_by_global_norm

world = distributed.world()
model = LanguageModel(11, "lstm", 6, 2, 4, dtype=np.float64, seed=0)
optimizer = Adam(model.params, lr=0.01)
rng = np.random.default_rng(1)
for step in range(4):  # ragged batches of 6 rows: ranks get rows 0-2 and 3-5, with different token counts
    x, y = rng.integers(0, 11, (6, 7)), rng.integers(0, 11, (6, 7))
    mask = np.arange(7)[None, :] < rng.integers(1, 8, 6)[:, None]
    x, y, mask = world.take((x, y, mask))
    model.zero_grad()
    logits, _ = model.forward(x, None, mask)
    loss, dlogits = softmax_cross_entropy(logits, y, mask)
    model.backward(dlogits)
    world.combine(model.grads, loss, int(mask.sum()), int(mask.sum()), (False,))
    clip_by_global_norm(model.grads, 0.5)
    optimizer.step(model.grads)
np.savez(sys.argv[1] + f"-{world.rank}.npz", **model.params)
"""


def launch(*argv, ranks=2, timeout=300):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([MPIEXEC, "-n", str(ranks), *argv], capture_output=True, text=True, timeout=timeout, env=env)


def rnnkit_cli():
    return [sys.executable, "-m", "rnnkit"]


@needs_mpi
def test_two_ranks_equal_one_process_in_float64(tmp_path):
    script = tmp_path / "steps.py"
    script.write_text(STEP)
    done = launch(sys.executable, str(script), str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr
    subprocess.run([sys.executable, str(script), str(tmp_path / "one")], check=True,
                   env={k: v for k, v in os.environ.items() if k not in distributed.LAUNCHER_SIZE})
    one = np.load(tmp_path / "one-0.npz")
    ranks = [np.load(tmp_path / f"two-{r}.npz") for r in (0, 1)]
    for name in one.files:
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name])  # every rank holds the same parameters
        np.testing.assert_allclose(ranks[0][name], one[name], rtol=1e-12, atol=1e-14)


def params(run):
    arrays, meta = load_checkpoint(pathlib.Path(run) / "last.safetensors")
    return {k: v for k, v in arrays.items() if not k.startswith("optim/")}, meta


@needs_mpi
@pytest.mark.parametrize("mode", ["lines", "stream"])
def test_the_cli_trains_and_resumes_on_two_ranks_as_on_one(tmp_path, mode):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(f"line {i} of the corpus, {'ab' * (i % 7)}" for i in range(300)), encoding="utf-8")
    flags = ["--data", str(text), "--mode", mode, "--hidden", "16", "--batch-size", "8", "--seq-len", "16",
             "--eval-every", "5", "--dropout", "0"]
    assert main(["train", *flags, "--steps", "6", "--out", str(tmp_path / "one")]) == 0
    assert main(["train", "--resume", str(tmp_path / "one"), "--steps", "12"]) == 0  # the schedule is stretched
    first = launch(*rnnkit_cli(), "train", *flags, "--steps", "6", "--out", str(tmp_path / "two"))
    assert first.returncode == 0, first.stderr
    assert "data-parallel on 2 MPI ranks" in first.stderr and first.stderr.count("-> ") == 1  # rank 0 alone speaks
    resumed = launch(*rnnkit_cli(), "train", "--resume", str(tmp_path / "two"), "--steps", "12")
    assert resumed.returncode == 0, resumed.stderr
    (one, meta_one), (two, meta_two) = params(tmp_path / "one"), params(tmp_path / "two")
    assert meta_two["step"] == meta_one["step"] == 12 and one.keys() == two.keys()
    for name in one:  # float32: the sums are done in another order; 12 steps of Adam keep them this close
        np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-5)


@needs_mpi
def test_a_rank_that_fails_stops_the_whole_run(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(
        "import sys\n"
        "from rnnkit.cli import main\n"
        "from rnnkit.interop import distributed\n"
        "from rnnkit.tasks import language_model\n"
        "if distributed.world().rank == 1:\n"
        "    def broken(self, batch, carry):\n"
        "        raise MemoryError('out of memory on purpose')\n"
        "    language_model.Task.train_step = broken\n"
        f"sys.exit(main(['train', '--steps', '50', '--hidden', '8', '--out', {str(tmp_path / 'run')!r}]))\n")
    done = launch(sys.executable, str(script), timeout=120)
    assert done.returncode != 0
    assert "rank 1 of 2 failed: out of memory on purpose; stopping all ranks" in done.stderr


def test_one_process_is_the_local_world(monkeypatch):
    for name in distributed.LAUNCHER_SIZE:
        monkeypatch.delenv(name, raising=False)
    world = distributed.world()
    assert isinstance(world, distributed.Local) and world.size == 1 and world.is_main
    batch = (np.arange(6), None)
    assert world.take(batch) is batch


def test_a_batch_too_small_for_the_ranks_is_named(tmp_path):
    class FourRanks(distributed.Local):
        size = 4

    from rnnkit.config import TrainConfig
    from rnnkit.train import Trainer
    with pytest.raises(ValueError, match="--batch-size 2 cannot be split across 4 MPI ranks"):
        Trainer(TrainConfig(batch_size=2, hidden=8), tmp_path / "r", world=FourRanks())


def task_data(tmp_path, task):
    """A small data file for ``task`` and its flags."""
    rng = np.random.default_rng(0)
    if task == "memory":
        return ["--task", "memory", "--data", "adding", "--seq-len", "20"]
    if task == "translate":
        words = ["".join(rng.choice(list("abcde"), size=rng.integers(2, 6))) for _ in range(200)]
        text = "".join(f"{w}\t{w[::-1]}\n" for w in words)
    else:  # classify: words labelled by their vowel, of different lengths (ragged masks)
        text = "".join(f"{''.join(rng.choice([v, *'bcdfg'], size=rng.integers(2, 9)))}\t{v}\n"
                       for v in rng.choice(list("aeo"), size=300))
    path = tmp_path / f"{task}.tsv"
    path.write_text(text, encoding="utf-8")
    return ["--task", task, "--data", str(path), "--seq-len", "10", "--embed", "8"]


@needs_mpi
@pytest.mark.parametrize("task", ["classify", "translate", "memory"])
def test_every_task_trains_on_two_ranks_as_on_one(tmp_path, task):
    flags = [*task_data(tmp_path, task), "--hidden", "16", "--batch-size", "8", "--steps", "8", "--eval-every", "4"]
    flags += ["--dropout", "0"] if task == "classify" else []
    assert main(["train", *flags, "--out", str(tmp_path / "one")]) == 0
    done = launch(*rnnkit_cli(), "train", *flags, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr
    (one, _), (two, _) = params(tmp_path / "one"), params(tmp_path / "two")
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-5)
