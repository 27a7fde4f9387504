#!/usr/bin/env python3
"""A throwaway PostgreSQL 15 server for tests and benchmarks: Debian's postgresql-15, run as
the postgres user on loopback (TCP only, no Unix socket), its data in a directory of its own
(wiped at start; the postgres user must be able to reach it, so not under a 0700 directory).
Password authentication (scram-sha-256) for the user `svckit`, password `svckit-test`, owner of
the database `svckit`.

    python3 tests/support/postgres_server.py start DIR PORT   # prints the postgresql:// URL
    python3 tests/support/postgres_server.py stop DIR PORT    # and deletes DIR

or from Python: Postgres(dir, port).start() / .stop() / .restart() / .kill() / .remove() / .psql(sql)
/ .create_database(name) -> its URL.
"""
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time

BIN = "/usr/lib/postgresql/15/bin"
USER, PASSWORD = "svckit", "svckit-test"


class Postgres:
    def __init__(self, base_dir, port):
        self.base_dir = os.path.abspath(base_dir)
        self.data = os.path.join(self.base_dir, "data")
        self.port = int(port)
        self.url = self.url_of("svckit")

    def url_of(self, database):
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, args, **kwargs):
        user = pwd.getpwnam("postgres")

        def demote():
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

        env = dict(os.environ, HOME=user.pw_dir, LC_ALL="C.UTF-8")
        return subprocess.run(args, env=env, preexec_fn=demote if os.getuid() == 0 else None,
                              **kwargs)

    def psql(self, sql, database="postgres"):
        """Runs `sql` as the superuser; returns its output (unaligned, tuples only)."""
        r = self._as_postgres(["psql", "-X", "-q",
                               "-At", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                               "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql],
                              capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def create_database(self, name):
        self.psql(f'CREATE DATABASE "{name}" OWNER {USER}')
        return self.url_of(name)

    def start(self, wipe=True, timeout=60):
        user = pwd.getpwnam("postgres")
        if wipe:
            if os.path.exists(self.base_dir):
                shutil.rmtree(self.base_dir)
            os.makedirs(self.base_dir)
            os.chown(self.base_dir, user.pw_uid, user.pw_gid)
            # The superuser by trust on loopback (the tests' psql); svckit by password.
            self._as_postgres([f"{BIN}/initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
                               "--auth-local=trust", "--auth-host=trust", "--no-sync"],
                              check=True, capture_output=True, timeout=120)
            with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
                f.write("host all postgres 127.0.0.1/32 trust\n"
                        "host all all 127.0.0.1/32 scram-sha-256\n")
            with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
                f.write("listen_addresses = '127.0.0.1'\n"
                        f"port = {self.port}\n"
                        "unix_socket_directories = ''\n"
                        "max_connections = 200\n"
                        "fsync = off\n"  # a test server: speed over durability across a crash
                        "synchronous_commit = off\n"
                        "full_page_writes = off\n"
                        # Tests create many databases; keep the WAL they write from piling up.
                        "max_wal_size = 96MB\n"
                        "min_wal_size = 32MB\n")
        log = os.path.join(self.base_dir, "server.log")
        self._as_postgres([f"{BIN}/pg_ctl", "-D", self.data, "-l", log, "-w", "-t", str(timeout),
                           "start"], check=True, capture_output=True, timeout=timeout + 10)
        if wipe:
            self.psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}' CREATEDB")
            self.psql(f"CREATE DATABASE svckit OWNER {USER}")
        return self

    def pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self, mode="fast", timeout=60):
        if self.pid() is None:
            return
        self._as_postgres([f"{BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t",
                           str(timeout), "stop"], capture_output=True, timeout=timeout + 10)

    def remove(self):
        """Stops the server at once and deletes its directory: what a test leaves behind."""
        try:
            self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def kill(self):
        """As a crash would: SIGKILL to the postmaster (its backends exit when they notice)."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.5)

    def restart(self):
        self.stop()
        return self.start(wipe=False)


def main(argv):
    if len(argv) >= 4 and argv[1] == "start":
        server = Postgres(argv[2], argv[3])
        try:
            server.stop(mode="immediate")  # a server left over from an interrupted run
        except Exception:
            pass
        print(server.start().url)
        return 0
    if len(argv) >= 4 and argv[1] == "stop":
        Postgres(argv[2], argv[3]).remove()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
