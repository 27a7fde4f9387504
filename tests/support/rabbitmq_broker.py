#!/usr/bin/env python3
"""A throwaway RabbitMQ node for tests and benchmarks: Debian's rabbitmq-server, run as the
rabbitmq user on loopback, with its data in a directory of its own (wiped at start; the rabbitmq user must be able to reach
it, so not under a 0700 directory), no plugins.

    python3 tests/support/rabbitmq_broker.py start DIR PORT   # prints the amqp:// URL
    python3 tests/support/rabbitmq_broker.py stop DIR PORT

or from Python: Broker(dir, port).start() / .stop() / .restart() / .kill().
"""
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time


class Broker:
    def __init__(self, base_dir, port):
        self.base_dir = os.path.abspath(base_dir)
        self.port = int(port)
        self.node = f"svckit{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.pid_file = os.path.join(self.base_dir, "rabbitmq.pid")

    def _env(self):
        env = dict(os.environ)
        env.update({
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.port + 20000),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.base_dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.base_dir, "log"),
            "RABBITMQ_PID_FILE": self.pid_file,
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.base_dir, "enabled_plugins"),
            "RABBITMQ_CONFIG_FILES": os.path.join(self.base_dir, "conf.d"),
            "HOME": pwd.getpwnam("rabbitmq").pw_dir,
        })
        return env

    def _as_rabbitmq(self, args, **kwargs):
        user = pwd.getpwnam("rabbitmq")

        def demote():
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

        return subprocess.Popen(args, env=self._env(), preexec_fn=demote if os.getuid() == 0 else None,
                                **kwargs)

    def ctl(self, *args, timeout=60):
        p = self._as_rabbitmq(["rabbitmqctl", "-n", self.node, "-q", *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out + err

    def start(self, wipe=True, timeout=60):
        if wipe and os.path.exists(self.base_dir):
            shutil.rmtree(self.base_dir)
        os.makedirs(os.path.join(self.base_dir, "conf.d"), exist_ok=True)
        with open(os.path.join(self.base_dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        with open(os.path.join(self.base_dir, "conf.d", "svckit.conf"), "w") as f:
            f.write("loopback_users.guest = true\nlog.console = false\n")
        user = pwd.getpwnam("rabbitmq")
        for root, dirs, files in os.walk(self.base_dir):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.chown(name, user.pw_uid, user.pw_gid)
        log = open(os.path.join(self.base_dir, "server.out"), "ab")
        self._as_rabbitmq(["rabbitmq-server"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                          start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            code, _ = self.ctl("await_startup", "--timeout", "5", timeout=30)
            if code == 0:
                return self
            time.sleep(0.3)
        raise RuntimeError(f"rabbitmq did not start; see {self.base_dir}/server.out and log/")

    def pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _wait_gone(self, pid, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout=60):
        """Graceful: the node flushes its durable queues and exits."""
        pid = self.pid()
        if pid is None:
            return
        self.ctl("stop", timeout=timeout)
        if not self._wait_gone(pid, timeout):
            self.kill()

    def kill(self):
        """As a crash would: SIGKILL, nothing flushed beyond what was fsynced."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._wait_gone(pid, 30)

    def restart(self):
        self.stop()
        return self.start(wipe=False)


def main(argv):
    if len(argv) >= 4 and argv[1] == "start":
        broker = Broker(argv[2], argv[3])
        try:
            broker.stop()  # a node left over from an interrupted run
        except Exception:
            pass
        print(broker.start().url)
        return 0
    if len(argv) >= 4 and argv[1] == "stop":
        Broker(argv[2], argv[3]).stop()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
