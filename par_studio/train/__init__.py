"""Training: corpus building, datasets (our corpus, MAESTRO v3), the trainer and the evaluator."""
