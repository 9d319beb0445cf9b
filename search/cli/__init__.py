"""The hpsearch command-line interface."""
