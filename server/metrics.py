"""Prometheus metrics of one server process (served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge("clinic_connections", "Open WebSocket connections", registry=self.registry)
        self.events_relayed = Counter("clinic_events_relayed_total", "change_log rows fanned out", registry=self.registry)
        self.commit_to_send = Histogram(
            "clinic_commit_to_send_seconds", "From a change's commit to its fan-out",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=self.registry)
        self.rpc_latency = Histogram("clinic_rpc_seconds", "RPC handling time", ["method"], registry=self.registry)
        self.rpc_errors = Counter("clinic_rpc_errors_total", "RPC errors", ["method", "reason"], registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
