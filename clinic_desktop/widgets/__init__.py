"""Small shared widgets: toast, offline banner, connection indicator."""

from __future__ import annotations
