"""Sends N sequential GETs over one keep-alive connection (used by request_cost.sh).

    keepalive_client.py PORT PATH N      (AUTHORIZATION in the environment is sent as that header)
"""
import os
import socket
import sys


def main():
    port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    # Only the API needs credentials; probes are sent as a kubelet sends them.
    wants_auth = path.startswith("/api/") and os.environ.get("AUTHORIZATION")
    auth = f"Authorization: {os.environ['AUTHORIZATION']}\r\n" if wants_auth else ""
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: bench\r\nAccept: */*\r\n{auth}\r\n".encode()
    with socket.create_connection(("127.0.0.1", port)) as s:
        buffered = b""
        for _ in range(n):
            s.sendall(request)
            while True:
                buffered += s.recv(65536)
                head, sep, rest = buffered.partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(rest) >= length:
                    buffered = rest[length:]
                    break


if __name__ == "__main__":
    main()
