"""Session-wide counters of what the fault and security suites did, printed in the terminal summary."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Counters", "FAULTS", "SECURITY", "SOAK"]


@dataclass
class Counters:
    faults_injected: int = 0  # server kills, database stops, LISTEN kills, stalls, hostile clients
    bad_inputs: int = 0  # malformed, fuzzed or hostile requests sent
    events_checked: int = 0  # sync.event deliveries checked against the database
    lost: int = 0  # committed changes a client should have seen and never did
    duplicated: int = 0  # changes a client received twice on its live stream
    detail: str = ""  # what the faults were, printed after the figures
    touched: bool = False

    def add(self, **counts: int) -> None:
        self.touched = True
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + value)

    def summary(self, title: str) -> str:
        return (f"{title}: faults injected {self.faults_injected}, bad inputs tried {self.bad_inputs}, "
                f"events checked {self.events_checked}, lost {self.lost}, duplicated {self.duplicated}"
                + (f" ({self.detail})" if self.detail else ""))


FAULTS = Counters()
SECURITY = Counters()
SOAK = Counters()  # the randomized soak alone (tests/faults/test_fault_soak.py), also counted in FAULTS
