"""The demo dataset: real captions and media found on this machine, no downloads."""
