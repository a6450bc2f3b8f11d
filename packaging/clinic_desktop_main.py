"""PyInstaller entry point of the `clinic-desktop` bundle (the same `main` as the pip entry point)."""

from clinic_desktop.app import main

raise SystemExit(main())
