"""Dataset sources and batching."""
