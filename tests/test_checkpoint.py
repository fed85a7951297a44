"""Checkpoints: round trip, atomic replacement, and clear errors for truncated, corrupted or foreign files."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from rnnkit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

ARRAYS = {"param/w": np.arange(12, dtype=np.float32).reshape(3, 4), "optim/m.w": np.ones(3)}
META = {"step": 7, "rng": {"state": 2**100}}


def test_round_trip(tmp_path):
    save_checkpoint(tmp_path / "last.safetensors", ARRAYS, META)
    arrays, meta = load_checkpoint(tmp_path / "last.safetensors")
    assert meta == META and arrays.keys() == ARRAYS.keys()
    for k, v in ARRAYS.items():
        np.testing.assert_array_equal(arrays[k], v)
        assert arrays[k].dtype == v.dtype
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temporary left behind


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, ARRAYS, META)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="not a readable rnnkit checkpoint"):
        load_checkpoint(path)


def test_flipped_bits_are_caught_by_the_checksum(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, ARRAYS, META)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted: its arrays do not match their checksum"):
        load_checkpoint(path)


def test_foreign_and_future_files_are_refused(tmp_path):
    save_file({"w": np.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(CheckpointError, match="not a readable rnnkit checkpoint"):
        load_checkpoint(tmp_path / "plain.safetensors")
    header = {"format": "rnnkit-checkpoint", "version": 99, "sha256": "", "meta": {}}
    save_file({"w": np.zeros(2)}, tmp_path / "future.safetensors", metadata={"rnnkit": json.dumps(header)})
    with pytest.raises(CheckpointError, match="format version 99, this rnnkit reads 1"):
        load_checkpoint(tmp_path / "future.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.safetensors")
