"""Instructions counted by callgrind for a stretch of a running service's work: the same run
after run, unlike requests/s on this shared machine (flags_ofrep.py, tracing_cost.py).

    proc = start(["build/bin/task-manager"], env, workdir)      # under callgrind
    per_request = count(proc, workdir, lambda: send(n), n, "name")

The service's environment must not set HOST: vgdb names its pipe after it, and callgrind_control
must agree. SHOW_ANNOTATE=N prints N lines of each profile; INCLUSIVE=no shows self costs.
"""
import os
import subprocess
import time


def start(command, env, workdir):
    """`command` under callgrind, its profiles in `workdir` (cg, cg.1, ...)."""
    return subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={workdir}/cg", *command],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def count(proc, workdir, work, requests, name):
    """Instructions per request of `work()` (which sends `requests` requests): the counters zeroed,
    the work done, a profile dumped and totalled."""
    subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
    work()
    for f in workdir.glob("cg*"):
        f.unlink()
    subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
    deadline = time.monotonic() + 30
    while not list(workdir.glob("cg*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # written whole
    dump = sorted(workdir.glob("cg*"), key=lambda f: f.stat().st_mtime)[-1]
    annotate = subprocess.run(["callgrind_annotate", "--threshold=100",
                               "--inclusive=" + os.environ.get("INCLUSIVE", "yes"), str(dump)],
                              capture_output=True, text=True).stdout
    shown = int(os.environ.get("SHOW_ANNOTATE") or 0)
    if shown:
        print(name, "\n", "\n".join(annotate.splitlines()[:shown]))
    total = next(int(line.split()[0].replace(",", "")) for line in annotate.splitlines()
                 if "PROGRAM TOTALS" in line)
    return total / requests
