"""`clinic-server` run from a config file, as the service units run it; the shipped example is valid."""

from __future__ import annotations

import sys
from pathlib import Path

from server.config import Config
from tests.packaging.processes import clinic_server
from tests.server_process import REPO_ROOT, ServerProcess, free_port

EXAMPLE = REPO_ROOT / "packaging" / "clinic-server.toml"


class ConfiguredServer(ServerProcess):
    """`clinic-server serve` with nothing on the command line: everything comes from CLINIC_CONFIG."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "server", "serve"]


def test_shipped_example_config_loads() -> None:
    """packaging/clinic-server.toml parses with the server's own loader and means what its comments say."""
    cfg = Config.load(EXAMPLE)
    assert (cfg.host, cfg.port, cfg.data_dir) == ("0.0.0.0", 8765, Path("/var/lib/dentalcare"))
    assert cfg.database_url is None and not cfg.tls and cfg.retention_days == 7


def test_shipped_example_config_mentions_every_setting() -> None:
    """Every setting the server knows appears in the example (set or commented), so IT can find it there."""
    from dataclasses import fields

    text = EXAMPLE.read_text()
    missing = [f.name for f in fields(Config) if f"{f.name} =" not in text]
    assert missing == []


def test_server_takes_host_port_and_database_from_the_config_file(database_url: str, work_dir: Path) -> None:
    """A server given only CLINIC_CONFIG listens where the file says, on the database it names."""
    port = free_port()
    config = work_dir / "clinic-server.toml"
    example = EXAMPLE.read_text()
    config.write_text(example.replace('host = "0.0.0.0"', 'host = "127.0.0.1"')
                      .replace("port = 8765", f"port = {port}")
                      .replace('data_dir = "/var/lib/dentalcare"', f'data_dir = "{work_dir / "data"}"')
                      .replace('# database_url = "postgresql://clinic@db.clinic.lan/clinic"',
                               f'database_url = "{database_url}"'))
    server = ConfiguredServer(database_url, work_dir / "data", work_dir / "server.log", port=port,
                              extra_env={"CLINIC_CONFIG": str(config)})
    server.start()  # waits for /healthz on `port`, which only the config file mentions
    try:
        assert (work_dir / "data" / "secret.key").exists()  # the data_dir from the file was used
    finally:
        server.stop()


def test_bad_config_file_is_a_one_line_error(work_dir: Path) -> None:
    """A typo in the config file, or a config file that is not there, is named in one line; no traceback."""
    typo = work_dir / "typo.toml"
    typo.write_text("[server]\nprot = 9000\n")
    result = clinic_server("migrate", "--config", typo)
    assert result.returncode == 2 and "unknown configuration setting: prot" in result.stderr
    missing = clinic_server("serve", "--config", work_dir / "nope.toml")
    assert missing.returncode == 2 and "nope.toml does not exist" in missing.stderr
    broken = work_dir / "broken.toml"
    broken.write_text("port = \n")
    result = clinic_server("serve", "--config", broken)
    assert result.returncode == 2 and "bad configuration" in result.stderr
    assert "Traceback" not in result.stderr + missing.stderr
