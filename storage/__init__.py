"""Storage: URLs, the Optuna studies hpsearch keeps its runs in, and per-study artifacts."""
