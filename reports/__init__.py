"""Comparison reports built from stored studies (HTML, Markdown, CSV)."""
