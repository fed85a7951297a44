"""Tasks: what the one training loop (``rnnkit.train``) trains, one module per architecture shape.

    lm         language_model.py   many-to-many next-token prediction: text -> the same text shifted
    classify   classify.py         many-to-one: a sequence -> one label (SequenceClassifier)
    generate   conditional.py      one-to-many: a label -> a sequence (a conditional LanguageModel)
    tag        tag.py              many-to-many, Tx = Ty: a tag for every token (SequenceTagger)
    translate  translate.py        many-to-many, Tx != Ty: a sequence -> another (Seq2Seq, attention)
    music      music.py            scores -> the next event (melody tokens) or the next piano-roll frame
    memory     memory.py           the long-memory problems (adding, copy, first symbol) at any length T

A task is an object the trainer calls, built from a ``TrainConfig`` (and, when resuming, the checkpoint's
metadata, so that vocabularies and labels stay as they were). It has

    model                          params, grads, rng, zero_grad(), num_params
    batches                        batches_per_epoch, carries_state, batch(epoch, index)
    train_step(batch, carry)       forward, loss, backward into the zeroed grads -> (loss, carry, tokens)
    averages_over                  "tokens" or "sequences": what that loss is a mean over (training on several
                                   MPI ranks weighs each rank's loss and gradients by its count of them)
    validate()                     {"loss": ..., and the task's own metrics} on the validation split
    describe_validation(metrics)   one line of them for the log
    show(seed)                     lines to print every --sample-every steps (samples), or none; only the
                                   tasks whose OPTIONS hold "sample_every" have it
    metadata()                     JSON for the checkpoint: enough, with the config, to rebuild the model
    describe()                     one line: data, vocabulary, model
    report(run_dir, best_loss)     final lines: held-out metrics beside the baseline a user would reach for

and its module a ``build_model(config, meta)`` that rebuilds the model of a saved run without its data. What
else a task module declares (its defaults, options, data, and its verbs for a trained run) is
``base.TaskModule``. Adding a task is adding its module here, in ``MODULES``.
"""

from __future__ import annotations

from . import classify, conditional, language_model, memory, music, tag, translate

MODULES = {"lm": language_model, "classify": classify, "generate": conditional, "tag": tag,
           "translate": translate, "music": music, "memory": memory}


def make_task(config, meta: dict | None = None):
    return MODULES[config.task].Task(config, meta)


def build_model(config, meta: dict):
    return MODULES[config.task].build_model(config, meta)
