"""The search: backends, the trial runner and the hpsearch CLI."""
