"""training: trace datasets, tokenized examples, LoRA fine-tuning (dataset building so far)."""
