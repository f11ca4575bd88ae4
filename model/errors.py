"""Errors every part may raise for the caller to print as one line."""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the setting."""
