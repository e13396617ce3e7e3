"""Learning a new instrument from a user's recordings: one more row in every per-instrument tensor of a preset's
model, fitted to the recordings with everything else frozen (docs/learn.md). run.learn is the entry point."""
