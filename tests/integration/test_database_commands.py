"""Leaving the embedded default and managing the schema from a service binary: --copy-data-from
copies a service's SQLite file into PostgreSQL, --migrate and --roll-back=COMPONENT:N manage
the migrations, and a failed migration stops start-up with exit code 2, schema untouched."""
import json
import sqlite3
import subprocess
import time

import requests

from conftest import BIN_DIR, TEST_JWT_SECRET, make_token

USER = {"Authorization": "Bearer " + make_token(permissions=["tasks:read", "tasks:write"])}


def run(binary, *args, **env):
    full = {"PATH": "/usr/bin:/bin", "JWT_SECRET_KEY": TEST_JWT_SECRET, "PORT": "0", **env}
    return subprocess.run([str(BIN_DIR / binary), *args], env={k: str(v) for k, v in full.items()},
                          capture_output=True, text=True, timeout=60)


def test_a_services_sqlite_data_moves_to_postgresql(start_service, tmp_path, postgres_server):
    data = tmp_path / "data"
    local = start_service("task-manager", DATA_DIR=data)
    made = []
    for i in range(25):
        r = requests.post(local.url + "/api/v1/tasks", json={"title": f"task {i}", "priority": "high",
                                                             "category": "move"}, headers=USER)
        made.append(r.json()["task"])
    requests.put(f"{local.url}/api/v1/tasks/{made[3]['id']}", json={"status": "completed"},
                 headers=USER)
    made[3] = requests.get(f"{local.url}/api/v1/tasks/{made[3]['id']}", headers=USER).json()["task"]
    assert local.stop() == 0
    # An event the service wrote but had not relayed when it stopped (the broker was away): it
    # moves too, is relayed by the moved service, and the outbox's sequence carries on past it.
    # The relay's lease, naming the stopped process, stays behind.
    with sqlite3.connect(data / "task-manager.db") as db:
        db.execute("DELETE FROM svckit_outbox")  # whatever the relay had not sent yet
        event = {"specversion": "1.0", "id": "left-behind", "source": "task-manager",
                 "type": "task.created", "time": "2026-01-01T00:00:00Z",
                 "datacontenttype": "application/json", "data": {"title": "left behind"}}
        db.execute("INSERT INTO svckit_outbox (seq, component, event_id, event, created_ms) "
                   "VALUES (1, 'task-manager', 'left-behind', ?, ?)",
                   (json.dumps(event), int(time.time() * 1000)))
        assert db.execute("SELECT COUNT(*) FROM svckit_outbox_lease").fetchone()[0] == 1

    url = postgres_server.create_database("moved")
    copied = run("task-manager", f"--copy-data-from=sqlite:///{data}/task-manager.db",
                 DATABASE_URL=url, DATA_DIR=data)
    assert copied.returncode == 0, copied.stderr
    assert '"table":"tasks"' in copied.stdout and '"rows":25' in copied.stdout, copied.stdout
    assert postgres_server.psql("SELECT event_id FROM svckit_outbox",
                                database="moved") == "left-behind"
    assert postgres_server.psql("SELECT COUNT(*) FROM svckit_outbox_lease", database="moved") == "0"
    assert "svckit-test" not in copied.stdout + copied.stderr  # the password is never shown

    moved = start_service("task-manager", DATABASE_URL=url, DATA_DIR=tmp_path / "elsewhere")
    deadline = time.monotonic() + 10
    while postgres_server.psql("SELECT COUNT(*) FROM svckit_outbox", database="moved") != "0":
        assert time.monotonic() < deadline, "the moved event was never relayed"
        time.sleep(0.05)
    for task in made:
        got = requests.get(f"{moved.url}/api/v1/tasks/{task['id']}", headers=USER)
        assert got.status_code == 200 and got.json()["task"] == task
    stats = requests.get(moved.url + "/api/v1/tasks/stats", headers=USER).json()
    assert stats["total"] == 25 and stats["by_status"]["completed"] == 1
    # Writes on PostgreSQL append to the outbox after the copied event.
    r = requests.post(moved.url + "/api/v1/tasks", json={"title": "after the move"}, headers=USER)
    assert r.status_code == 201, r.text

    # A second copy would duplicate: refused, nothing changed.
    again = run("task-manager", f"--copy-data-from=sqlite:///{data}/task-manager.db",
                DATABASE_URL=url, DATA_DIR=data)
    assert again.returncode != 0 and "already has rows" in again.stderr, again.stderr
    assert postgres_server.psql("SELECT COUNT(*) FROM tasks", database="moved") == "26"
    missing = run("task-manager", "--copy-data-from=sqlite:///nowhere/x.db", DATABASE_URL=url)
    assert missing.returncode == 2 and "no SQLite file" in missing.stderr


def test_security_data_moves_in_foreign_key_order(start_service, tmp_path, postgres_server):
    data = tmp_path / "data"
    admin = ("admin@example.com", "admin-password-1")
    env = dict(SECURITY_ADMIN_EMAIL=admin[0], SECURITY_ADMIN_PASSWORD=admin[1],
               SECURITY_BCRYPT_COST="4", JWT_SECRET_KEY="s" * 40)
    local = start_service("security", DATA_DIR=data, **env)
    login = requests.post(local.url + "/api/v1/auth/login",
                          json={"email": admin[0], "password": admin[1]}).json()
    assert local.stop() == 0
    url = postgres_server.create_database("moved_security")
    copied = run("security", f"--copy-data-from=sqlite:///{data}/security.db", DATABASE_URL=url,
                 DATA_DIR=data, **env)
    assert copied.returncode == 0, copied.stderr
    moved = start_service("security", DATABASE_URL=url, DATA_DIR=tmp_path / "other", **env)
    # The refresh token issued on SQLite is known (and used once) on PostgreSQL.
    r = requests.post(moved.url + "/api/v1/auth/refresh",
                      json={"refresh_token": login["refresh_token"]})
    assert r.status_code == 200, r.text
    r = requests.post(moved.url + "/api/v1/auth/login",
                      json={"email": admin[0].upper(), "password": admin[1]})
    assert r.status_code == 200  # emails match whatever their case, on PostgreSQL too


def test_migrate_and_roll_back_commands(postgres_server, tmp_path):
    url = postgres_server.create_database("commands")
    r = run("task-manager", "--migrate", DATABASE_URL=url, DATA_DIR=tmp_path)
    assert r.returncode == 0, r.stderr
    assert postgres_server.psql("SELECT to_regclass('tasks') IS NOT NULL", database="commands") == "t"
    r = run("task-manager", "--roll-back=task-manager:0", DATABASE_URL=url, DATA_DIR=tmp_path)
    assert r.returncode == 0, r.stderr
    assert postgres_server.psql("SELECT to_regclass('tasks') IS NULL", database="commands") == "t"
    assert postgres_server.psql("SELECT COUNT(*) FROM svckit_migrations WHERE component = "
                                "'task-manager'", database="commands") == "0"
    r = run("task-manager", "--roll-back=nothing:0", DATABASE_URL=url, DATA_DIR=tmp_path)
    assert r.returncode == 2 and "no component 'nothing'" in r.stderr and "task-manager" in r.stderr
    r = run("task-manager", "--roll-back=task-manager", DATABASE_URL=url, DATA_DIR=tmp_path)
    assert r.returncode == 2 and "COMPONENT:VERSION" in r.stderr


def test_a_failed_migration_exits_2_and_leaves_the_schema_as_it_was(postgres_server, tmp_path):
    url = postgres_server.create_database("blocked")
    # Something in the way of migration 1's second statement: the table is made, the index not.
    postgres_server.psql("CREATE TABLE tasks_status_blocker (x int); "
                         "CREATE INDEX tasks_status ON tasks_status_blocker (x); "
                         f"GRANT ALL ON tasks_status_blocker TO svckit", database="blocked")
    r = run("task-manager", DATABASE_URL=url, DATA_DIR=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "migration task-manager 1" in r.stderr and "rolled back" in r.stderr, r.stderr
    assert postgres_server.psql("SELECT to_regclass('tasks') IS NULL", database="blocked") == "t"
