#!/usr/bin/env python3
"""Refuses lambdas written inside a co_await expression that capture anything by value.

GCC 12 (Debian 12's compiler) destroys such a closure twice: `co_await pool.run([p] { ... })`
with `p` a shared_ptr drops its count twice and frees what is still in use (found by ASan in the
gRPC server's drain; a ten-line reproduction is in docs/architecture.md). Captures by reference
or of `this` are harmless. Name the lambda first (`auto work = [p] { ... }; co_await
pool.run(work);`) and the bug does not arise.

    tools/check_coawait_lambdas.py FILE...      prints each finding, exits 1 if there is one
"""
import pathlib
import re
import sys

INTRODUCER = re.compile(r"\[([^\[\]]*)\]\s*(\(|\{|mutable|->)")


def co_await_expressions(text):
    for m in re.finditer(r"\bco_await\b", text):
        i, depth = m.end(), 0
        while i < len(text):
            c = text[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth < 0:
                    break
            elif c == ";" and depth == 0:
                break
            i += 1
        yield text.count("\n", 0, m.start()) + 1, text[m.end():i]


def by_value(captures):
    names = [c.strip() for c in captures.split(",") if c.strip()]
    return [c for c in names if c != "&" and not c.startswith("&") and c != "this"]


def main(paths):
    found = 0
    for path in paths:
        text = pathlib.Path(path).read_text()
        for line, expr in co_await_expressions(text):
            for lam in INTRODUCER.finditer(expr):
                if captured := by_value(lam.group(1)):
                    found += 1
                    print(f"{path}:{line}: a lambda capturing {', '.join(captured)} by value "
                          f"inside co_await (GCC 12 destroys it twice): name it first")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
