"""What every task module shares: the lines ``rnnkit info`` prints for any run.

A task module declares, beside its ``Task`` class and ``build_model`` (see ``tasks/__init__.py``):

    WHAT        what its model is, for messages ("a classifier")
    NEXT        what to run next with a trained run, "{out}" standing for its folder
    DEFAULTS    what a TrainConfig field left as None means for it
    OPTIONS     the options of ``train.TASK_ONLY`` it takes
    info(config, meta) -> list[str]    the lines ``rnnkit info`` prints about a saved run
    evaluate_data(run, data) -> (dict, str)   ``rnnkit eval``: metrics of a trained run on the user's data,
                                the dict for ``--json`` and one line for people

and, where the task has them:

    predict_texts(run, texts, **options) -> list[dict]   ``rnnkit predict``: one record per text (its JSON)
    show_prediction(run, record) -> str                  the line people see for a record
    PREDICT_OPTIONS             the flags of ``rnnkit predict`` predict_texts takes
    generator(run, label, path) the model ``rnnkit sample`` and ``score`` draw from
    training_texts(run)         the training texts, to tell a novel sample from a remembered one
"""

from __future__ import annotations

from .. import generate


def model_line(config, details: str = "") -> str:
    """The recurrent stack: cell, layers and width, then the task's own ``details``."""
    return f"model: {config.cell}, {config.layers} layer(s) of {config.hidden}{details}"


def run_lines(meta: dict, loss_unit: str | None, digits: int = 4) -> list[str]:
    """The last lines of every run's info: steps taken and the best validation loss (in nats per
    ``loss_unit``, or a bare number when None)."""
    best = meta["best_valid_loss"]
    steps = f"steps: {meta['step']}" + (f" of {meta['total_steps']}" if meta["total_steps"] else "")
    loss = "none yet" if best is None else f"{best:.{digits}f}" + (f" nats/{loss_unit}" if loss_unit else "")
    return [steps, f"best validation loss: {loss}"]


def parameters_line(meta: dict) -> str:
    return f"parameters: {meta['num_params']:,}"


def labels_line(meta: dict, vocab, labels: list[str]) -> str:
    """The data of a run that maps texts to labels (or tags)."""
    shown = ", ".join(labels[:20]) + (" ..." if len(labels) > 20 else "")
    return f"data: {meta['corpus']} ({vocab.level} level, vocabulary {len(vocab)}, {len(labels)} labels: {shown})"


def scored(totals, vocab) -> tuple[dict, str]:
    """``evaluate_data`` of a generative model from (log P, tokens) per text: loss, perplexity and bits."""
    log_prob, tokens = sum(t[0] for t in totals), sum(t[1] for t in totals)
    s = generate.summary(log_prob, tokens)
    key = "bits_per_char" if vocab.level == "char" else "bits_per_token"
    unit = key.split("_")[-1]
    return ({"loss": s["loss"], "perplexity": s["perplexity"], key: s["bits"]},
            f"{tokens} {unit}s: loss {s['loss']:.4f} nats/{unit}, perplexity {s['perplexity']:.3f}, "
            f"{s['bits']:.4f} bits/{unit}")
