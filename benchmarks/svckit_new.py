#!/usr/bin/env python3
"""Issue 27's figure for `svckit new`: a generated project builds against an installed svckit and
passes its tests in under 60 s from a cold build (under 120 s with --grpc). Side by side in one
run, interleaved over rounds: the three kinds of project, and the smallest project that links
svckit (tests/install/outside, one main.cpp that includes <svckit/svckit.hpp>), the floor of any
project on svckit. Cold: a fresh build directory and no compiler cache.

    /usr/bin/python3 benchmarks/svckit_new.py [--rounds 3] [--prefix build/install-check/prefix]

Without --prefix it installs build/ into a temporary prefix first.
"""
import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
KINDS = {"plain": [], "db+bus": ["--db", "--bus"], "grpc+db+bus": ["--grpc", "--db", "--bus"]}


def run(*command, cwd=None, env=None):
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


def cold_build(source, build, prefix, test):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCACHE")}
    env["CCACHE_DISABLE"] = "1"
    shutil.rmtree(build, ignore_errors=True)
    started = time.monotonic()
    run("cmake", "-S", source, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_PREFIX_PATH={prefix}", f"-DPython3_EXECUTABLE={sys.executable}", env=env)
    run("cmake", "--build", build, env=env)
    built = time.monotonic() - started
    if test:
        run("ctest", "--test-dir", build, "--output-on-failure", env=env)
    return built, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prefix")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="svckit-new-bench-"))
    try:
        prefix = pathlib.Path(args.prefix).resolve() if args.prefix else work / "prefix"
        if not args.prefix:
            run("cmake", "--install", ROOT / "build", "--prefix", prefix)
        projects = {"outside (floor)": (ROOT / "tests" / "install" / "outside", False)}
        for kind, flags in KINDS.items():
            name = "item-" + kind.replace("+", "-")
            run(prefix / "bin" / "svckit", "new", name, *flags, "--dir", work / name)
            projects[kind] = (work / name, True)
        times = {k: [] for k in projects}
        for r in range(args.rounds):
            for kind, (source, test) in projects.items():
                times[kind].append(cold_build(source, work / "build" / kind.split()[0], prefix, test))
                print(f"round {r + 1} {kind}: built in {times[kind][-1][0]:.1f} s, "
                      f"built and tested in {times[kind][-1][1]:.1f} s", flush=True)
        floor = statistics.median(b for b, _ in times["outside (floor)"])
        print(f"\n| project | cold build (s) | build + tests (s) | build ÷ floor | target |")
        print("| --- | --- | --- | --- | --- |")
        for kind, values in times.items():
            built = statistics.median(b for b, _ in values)
            total = statistics.median(t for _, t in values)
            target = "" if kind.startswith("outside") else ("< 120 s" if "grpc" in kind else "< 60 s")
            print(f"| {kind} | {built:.1f} | {total:.1f} | {built / floor:.2f}× | {target} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
