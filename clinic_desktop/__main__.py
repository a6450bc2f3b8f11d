"""`python -m clinic_desktop` runs the desktop client."""

from __future__ import annotations

from .app import main

raise SystemExit(main())
