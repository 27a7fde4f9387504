"""Sends N sequential requests over one keep-alive connection (used by request_cost.sh and
flags_ofrep.py --instructions).

    keepalive_client.py PORT PATH N [METHOD BODY]   (AUTHORIZATION in the environment is sent as
                                                     that header; a BODY as application/json)
"""
import os
import socket
import sys


def main():
    port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    method, body = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else ("GET", "")
    # Only the API needs credentials; probes are sent as a kubelet sends them.
    wants_auth = path.startswith(("/api/", "/ofrep/")) and os.environ.get("AUTHORIZATION")
    auth = f"Authorization: {os.environ['AUTHORIZATION']}\r\n" if wants_auth else ""
    if body:
        auth += f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n"
    request = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: bench\r\nAccept: */*\r\n{auth}\r\n"
               + body).encode()
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
