"""Item processing stages and storage: URLs, text, the archive, tagging."""
