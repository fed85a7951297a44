"""Batching: right-padded id arrays (B, T) with a boolean mask (B, T) of the valid steps.

Language models get inputs x, targets y (the next tokens) and the mask; classifiers get x, the mask and
one label per sequence (B,).

Line mode: each line is one sequence, x = [<EOS>, t1, ..., tn] and y = [t1, ..., tn, <EOS>] cut to ``seq_len``
steps, right-padded with <PAD> and masked; lines are reshuffled every epoch (the order of epoch e depends on
(seed, e) only, so a position (epoch, index) is all a resumed run needs).

Stream mode (as char-rnn does): the token stream is cut into B parallel streams read T steps at a time;
the state is carried from one batch to the next (truncated BPTT) and reset at the start of each epoch.
"""

from __future__ import annotations

import numpy as np

from .. import _checks


class LineBatches:
    carries_state = False

    def __init__(self, sequences, batch_size: int, seq_len: int, eos: int, pad: int, seed: int = 0):
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.seq_len = _checks.positive_int("seq_len", seq_len)
        if not sequences:
            raise ValueError("line mode needs at least one line")
        self.inputs = [np.concatenate([[eos], s])[:seq_len] for s in sequences]
        self.targets = [np.concatenate([s, [eos]])[:seq_len] for s in sequences]
        self.pad, self.seed = pad, seed
        self.batches_per_epoch = -(-len(sequences) // self.batch_size)

    def chosen(self, epoch: int, index: int) -> np.ndarray:
        """Which sequences batch ``index`` of ``epoch`` holds."""
        return epoch_order(len(self.inputs), self.seed, epoch)[index * self.batch_size : (index + 1) * self.batch_size]

    def batch(self, epoch: int, index: int):
        chosen = self.chosen(epoch, index)
        return pad([self.inputs[i] for i in chosen], [self.targets[i] for i in chosen], self.pad)

    def in_order(self):
        """Every sequence once, in corpus order (for validation)."""
        for start in range(0, len(self.inputs), self.batch_size):
            stop = start + self.batch_size
            yield pad(self.inputs[start:stop], self.targets[start:stop], self.pad)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order of ``n`` sequences in ``epoch``: it depends on (seed, epoch) only."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def pad(inputs, targets, pad_id):
    """Right-pad lists of 1-D id arrays to (B, T) arrays; returns x, y and the boolean mask."""
    x, mask = pad_ids(inputs, pad_id)
    y, _ = pad_ids(targets, pad_id)
    return x, y, mask


def pad_ids(sequences, pad_id):
    """Right-pad a list of non-empty 1-D id arrays to one (B, T) array; returns it and the boolean mask."""
    lengths = np.array([len(s) for s in sequences])
    mask = np.arange(lengths.max())[None, :] < lengths[:, None]
    x = np.full(mask.shape, pad_id, dtype=np.int64)
    x[mask] = np.concatenate(sequences)
    return x, mask


class StreamBatches:
    carries_state = True

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int):
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.seq_len = _checks.positive_int("seq_len", seq_len)
        length = len(ids) // batch_size
        if length < seq_len + 1:
            raise ValueError(
                f"the text has {len(ids)} tokens: too short for --batch-size {batch_size} streams of "
                f"--seq-len {seq_len} + 1 tokens each; lower them or give more text"
            )
        self.streams = np.asarray(ids[: length * batch_size], dtype=np.int64).reshape(batch_size, length)
        self.batches_per_epoch = (length - 1) // seq_len

    def batch(self, epoch: int, index: int):
        start = index * self.seq_len
        x = self.streams[:, start : start + self.seq_len]
        y = self.streams[:, start + 1 : start + self.seq_len + 1]
        return x, y, None

    def in_order(self):
        for index in range(self.batches_per_epoch):
            yield self.batch(0, index)


class ShuffledBatches:
    """Batches of ``size`` items: ``batch(epoch, index)`` in the epoch's shuffled order (it depends on
    (seed, epoch) only), ``in_order()`` every item once, in the order given (for evaluation). Subclasses say
    what a batch of chosen items is (``_take``)."""

    carries_state = False

    def __init__(self, size: int, batch_size: int, seed: int):
        self.size, self.seed = size, seed
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.batches_per_epoch = -(-size // self.batch_size)

    def batch(self, epoch: int, index: int):
        order = epoch_order(self.size, self.seed, epoch)
        return self._take(order[index * self.batch_size : (index + 1) * self.batch_size])

    def in_order(self):
        for start in range(0, self.size, self.batch_size):
            yield self._take(np.arange(start, min(start + self.batch_size, self.size)))


class LabelledBatches(ShuffledBatches):
    """Sequences (cut to their first ``seq_len`` tokens) with one label each, or one label per token:
    (x, mask, labels), labels (B,) or (B, T) right-padded with 0."""

    def __init__(self, sequences, labels, batch_size: int, seq_len: int, pad: int, seed: int = 0):
        self.seq_len = _checks.positive_int("seq_len", seq_len)
        if not sequences or len(sequences) != len(labels):
            raise ValueError(f"need one label per sequence and at least one, got {len(sequences)} and {len(labels)}")
        super().__init__(len(sequences), batch_size, seed)
        self.sequences = [np.asarray(s[:seq_len]) for s in sequences]
        self.per_token = np.ndim(labels[0]) == 1
        if self.per_token:
            self.labels = [np.asarray(tags[:seq_len], dtype=np.int64) for tags in labels]
        else:
            self.labels = np.asarray(labels, dtype=np.int64)
        self.pad = pad

    def _take(self, chosen):
        x, mask = pad_ids([self.sequences[i] for i in chosen], self.pad)
        labels = pad_ids([self.labels[i] for i in chosen], 0)[0] if self.per_token else self.labels[chosen]
        return x, mask, labels


class PairBatches(ShuffledBatches):
    """Source and target id sequences for an encoder-decoder, teacher-forced: (source, source mask,
    target in = [<EOS>, t1..tn], target out = [t1..tn, <EOS>], target mask), all right-padded."""

    def __init__(self, sources, targets, batch_size: int, eos: int, pad: int, seed: int = 0):
        if not sources or len(sources) != len(targets):
            raise ValueError(f"need one target per source and at least one, got {len(sources)} and {len(targets)}")
        super().__init__(len(sources), batch_size, seed)
        self.sources, self.targets, self.eos, self.pad = sources, targets, eos, pad

    def _take(self, chosen):
        source, source_mask = pad_ids([self.sources[i] for i in chosen], self.pad)
        target_in, target_out, target_mask = pad([np.concatenate([[self.eos], self.targets[i]]) for i in chosen],
                                                 [np.concatenate([self.targets[i], [self.eos]]) for i in chosen],
                                                 self.pad)
        return source, source_mask, target_in, target_out, target_mask


class FrameBatches(ShuffledBatches):
    """Piano rolls for a next-frame model: (x, y, mask), x (B, T, K) float32 the frames before y (B, T, K).

    Each piece is cut into windows of ``seq_len`` frames (``None``: whole pieces, for evaluation); a window's
    first input is the frame before it (all zeros at the start of a piece), and its state starts at zero.
    """

    def __init__(self, rolls, batch_size: int, seq_len: int | None, seed: int = 0):
        if not rolls:
            raise ValueError("need at least one piece")
        if seq_len is not None:
            _checks.positive_int("seq_len", seq_len)
        self.rolls = [np.vstack([np.zeros((1, r.shape[1]), np.float32), r]).astype(np.float32) for r in rolls]
        self.windows = [(i, start) for i, r in enumerate(rolls)
                        for start in range(0, len(r), seq_len or max(len(r), 1))]
        self.seq_len = seq_len
        super().__init__(len(self.windows), batch_size, seed)

    def _take(self, chosen):
        pieces = []
        for w in chosen:
            i, start = self.windows[w]
            stop = len(self.rolls[i]) - 1 if self.seq_len is None else min(start + self.seq_len, len(self.rolls[i]) - 1)
            pieces.append(self.rolls[i][start : stop + 1])  # frames start-1 .. stop of the piece, shifted by one
        T, K = max(len(p) for p in pieces) - 1, pieces[0].shape[1]
        x = np.zeros((len(pieces), T, K), np.float32)
        y = np.zeros_like(x)
        mask = np.zeros((len(pieces), T), bool)
        for b, p in enumerate(pieces):
            x[b, : len(p) - 1], y[b, : len(p) - 1], mask[b, : len(p) - 1] = p[:-1], p[1:], True
        return x, y, mask
