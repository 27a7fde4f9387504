"""Waiting for something that happens in another process or thread, bounded."""
import time


def until(check, timeout=20.0, what="condition", interval=0.02):
    """check()'s first truthy value; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
