"""`clinic-server bench`: load benchmarks of the sync server, a peer relay, and the client store."""

from .runner import add_arguments, run

__all__ = ["add_arguments", "run"]
