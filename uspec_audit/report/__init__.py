"""Reports rendered from the result files: terminal (Rich), HTML, PDF, Markdown."""
