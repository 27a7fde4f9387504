#!/usr/bin/env python3
"""Refuses two shapes of code that GCC 12 (Debian 12's compiler) turns into double frees.

1. A lambda written inside a co_await expression that captures anything by value: the closure
   is destroyed twice. `co_await pool.run([p] { ... })` with `p` a shared_ptr drops its count
   twice (found by ASan in the gRPC server's drain). Captures by reference or of `this` are
   harmless. Name the lambda first: `auto work = [p] { ... }; co_await pool.run(work);`.
2. co_await inside a conditional operator: `T t = ready ? std::move(now) : co_await later;`
   destroys the result twice, whichever arm runs (found by ASan in the AI Gateway). Use if/else.

Ten-line reproductions of both are in docs/architecture.md.

    tools/check_gcc12_coroutines.py FILE...      prints each finding, exits 1 if there is one
"""
import pathlib
import re
import sys

INTRODUCER = re.compile(r"\[([^\[\]]*)\]\s*(\(|\{|mutable|->)")


def without_comments(text):
    """Line comments blanked, lines kept: a comment that mentions co_await is not one."""
    return re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), text)


def co_await_expressions(text):
    text = without_comments(text)
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


def without_literals(code):
    code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
    return re.sub(r"'(\\.|[^'\\])*'", "''", code)


def conditionals_around_co_await(text):
    """Statements with a co_await and a ?: operator in them (comments and literals aside)."""
    code = without_comments(text)
    for m in re.finditer(r"[^;{}]*\bco_await\b[^;{}]*;", code):
        if "?" in without_literals(m.group(0)):
            yield code.count("\n", 0, m.start() + len(m.group(0)) - len(m.group(0).lstrip())) + 1


def main(paths):
    found = 0
    for path in paths:
        text = pathlib.Path(path).read_text()
        for line in conditionals_around_co_await(text):
            found += 1
            print(f"{path}:{line}: co_await inside ?: (GCC 12 destroys the result twice): use if/else")
        for line, expr in co_await_expressions(text):
            for lam in INTRODUCER.finditer(expr):
                if captured := by_value(lam.group(1)):
                    found += 1
                    print(f"{path}:{line}: a lambda capturing {', '.join(captured)} by value "
                          f"inside co_await (GCC 12 destroys it twice): name it first")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
