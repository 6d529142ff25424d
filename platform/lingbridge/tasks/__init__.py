"""One module per task: preprocessing, collator, metrics, post-processing."""
