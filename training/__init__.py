"""training: trace datasets (``training.data``); tokenized examples, model set-up and the trainer sit beside it."""
