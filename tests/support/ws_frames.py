"""WebSocket (RFC 6455) by hand over a plain socket, for what a well-behaved client library will
not do: frames that break the protocol, a client that stops reading, pings left unanswered."""
import base64
import os
import socket
import struct

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def handshake(port, path, headers=(), rcvbuf=None, timeout=5.0):
    """Connects and upgrades; returns (socket, status, head text, bytes read past the head)."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return sock, status, head.decode("latin-1"), rest


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """One frame as a client sends it (masked unless told otherwise)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class FrameReader:
    """Reads server frames (unmasked) off a socket, starting with bytes already read."""

    def __init__(self, sock, pending=b""):
        self.sock = sock
        self.buffer = pending

    def _need(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def next(self):
        """(fin, opcode, payload)"""
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8))[0]
        assert not b1 & 0x80, "a server's frames are not masked"
        return bool(b0 & 0x80), b0 & 0x0F, self._need(n)

    def until_close(self):
        """Skips data and pings up to the close frame; returns (code, reason, frames skipped)."""
        skipped = 0
        while True:
            _, opcode, payload = self.next()
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, payload[2:].decode(errors="replace"), skipped
            skipped += 1
