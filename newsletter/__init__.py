"""The bulletin: selection, rendering (Jinja2), subscribers and sending (SMTP)."""
