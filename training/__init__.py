"""training: trace datasets in, code world models out.

- ``training.data``: program sources, the dataset build, the trace table, stats;
- ``training.recipe``: the YAML recipe ``cwm train`` reads (:func:`load_recipe`);
- ``training.examples`` / ``training.tokenized``: traces into windowed, tokenized examples (cached);
- ``training.model``: tokenizer and model set-up, the CWM tokens, LoRA;
- ``training.metrics``: teacher-forced next-frame exact match, for a model and for ``copy``;
- ``training.trainer``: the run itself (:func:`train`), and :func:`merge` of an adapter.
- ``training.callbacks``: what hangs on the trainer (progress, budget, a signal's stop, evaluation clock).
- ``training.hub``: whether a model name is a folder or a hub id, and whether the hub answers.
- ``training.checkpoints``: reading a checkpoint back (the end of training, its weights without a step).

Nothing heavy is imported here: ``import training`` does not load torch.
"""
