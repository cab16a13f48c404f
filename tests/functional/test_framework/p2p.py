"""A minimal Bitcoin P2P test peer (v1 transport), standard library only.

It speaks enough of the protocol for tests: framing, the version handshake, ping/pong,
and raw bytes for garbage, oversized and bad-checksum messages.
"""

import hashlib
import socket
import struct
import threading
import time

REGTEST_MAGIC = bytes.fromhex("fabfb5da")
PROTOCOL_VERSION = 70016
NODE_NETWORK = 1
NODE_WITNESS = 1 << 3
MSG_TX = 1
MSG_BLOCK = 2
MSG_WTX = 5
MSG_WITNESS_TX = 0x40000001
MSG_WITNESS_BLOCK = 0x40000002


def dsha256(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def ser_compact_size(n):
    if n < 253:
        return bytes([n])
    if n <= 0xffff:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xffffffff:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def read_compact_size(b, pos):
    first = b[pos]
    if first < 253:
        return first, pos + 1
    size = {253: 2, 254: 4, 255: 8}[first]
    return int.from_bytes(b[pos + 1:pos + 1 + size], "little"), pos + 1 + size


def frame(command, payload, magic=REGTEST_MAGIC, checksum=None, length=None):
    """A v1 message; `checksum` and `length` override the real values to build bad ones."""
    cmd = command.encode().ljust(12, b"\0")
    if checksum is None:
        checksum = dsha256(payload)[:4]
    if length is None:
        length = len(payload)
    return magic + cmd + struct.pack("<I", length) + checksum + payload


def ser_addr(port, services=0):
    ip = b"\0" * 10 + b"\xff\xff" + bytes([127, 0, 0, 1])
    return struct.pack("<Q", services) + ip + struct.pack(">H", port)


def version_payload(nonce, user_agent="/python-p2p:0.1/", start_height=0, relay=True):
    ua = user_agent.encode()
    return (struct.pack("<iQq", PROTOCOL_VERSION, NODE_NETWORK | NODE_WITNESS, int(time.time()))
            + ser_addr(0) + ser_addr(0, NODE_NETWORK | NODE_WITNESS)
            + struct.pack("<Q", nonce) + ser_compact_size(len(ua)) + ua
            + struct.pack("<i?", start_height, relay))


def inv_payload(items):
    """items: (type, hash hex as displayed)."""
    out = ser_compact_size(len(items))
    for t, h in items:
        out += struct.pack("<I", t) + bytes.fromhex(h)[::-1]
    return out


def parse_inv(payload):
    n, pos = read_compact_size(payload, 0)
    items = []
    for _ in range(n):
        t = struct.unpack_from("<I", payload, pos)[0]
        items.append((t, payload[pos + 4:pos + 36][::-1].hex()))
        pos += 36
    return items


def getheaders_payload(locator_hex, stop="00" * 32):
    out = struct.pack("<I", PROTOCOL_VERSION) + ser_compact_size(len(locator_hex))
    for h in locator_hex:
        out += bytes.fromhex(h)[::-1]
    return out + bytes.fromhex(stop)[::-1]


def parse_headers(payload):
    """Returns the block hashes (hex, as displayed) of a `headers` message."""
    n, pos = read_compact_size(payload, 0)
    hashes = []
    for _ in range(n):
        hashes.append(dsha256(payload[pos:pos + 80])[::-1].hex())
        pos += 81
    return hashes


class P2PConnection:
    """One TCP connection to a node's P2P port. Received messages are kept in order in
    `received` as (command, payload); pings are answered automatically unless
    `auto_pong` is False. `sock` wraps an already connected socket instead (see
    P2PListener)."""

    def __init__(self, port=None, timeout=10, sock=None, auto_pong=True):
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        self.received = []
        self.closed = False
        self.auto_pong = auto_pong

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, command, payload=b""):
        self.send_raw(frame(command, payload))

    def _read_more(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.time()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.buf += data
        return True

    def recv(self, timeout=10):
        """The next message (command, payload), or None on timeout or close."""
        deadline = time.time() + timeout
        while True:
            if len(self.buf) >= 24:
                length = struct.unpack_from("<I", self.buf, 16)[0]
                if len(self.buf) >= 24 + length:
                    command = self.buf[4:16].rstrip(b"\0").decode()
                    payload = self.buf[24:24 + length]
                    assert self.buf[:4] == REGTEST_MAGIC, self.buf[:4].hex()
                    assert self.buf[20:24] == dsha256(payload)[:4], "bad checksum from node"
                    self.buf = self.buf[24 + length:]
                    self.received.append((command, payload))
                    if command == "ping" and self.auto_pong:
                        self.send("pong", payload)
                    return command, payload
            if self.closed or time.time() >= deadline or not self._read_more(deadline):
                if self.closed or time.time() >= deadline:
                    return None

    def wait_for(self, command, timeout=10):
        """Reads until a `command` message arrives; returns its payload."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.recv(deadline - time.time())
            if m is None:
                break
            if m[0] == command:
                return m[1]
        raise AssertionError(f"no {command} message within {timeout}s (got {[c for c, _ in self.received]})")

    def handshake(self, nonce=12345, user_agent="/python-p2p:0.1/", relay=True, wtxidrelay=False):
        """Sends version (and wtxidrelay if asked), waits for the node's verack, sends
        verack. Returns the commands the node sent up to and including its verack."""
        self.send("version", version_payload(nonce, user_agent, relay=relay))
        if wtxidrelay:
            self.send("wtxidrelay")
        self.wait_for("verack")
        before = [c for c, _ in self.received]
        self.send("verack")
        return before

    def sync_with_ping(self, timeout=10):
        """Round trip: once the matching pong arrives, everything sent before was processed."""
        nonce = int(time.time() * 1000) & 0xffffffffffff
        self.send("ping", struct.pack("<Q", nonce))
        deadline = time.time() + timeout
        while time.time() < deadline:
            payload = self.wait_for("pong", deadline - time.time())
            if struct.unpack("<Q", payload)[0] == nonce:
                return
        raise AssertionError("no matching pong")

    def wait_for_disconnect(self, timeout=10):
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            self.recv(deadline - time.time())
        if not self.closed:
            raise AssertionError("node did not disconnect")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class P2PListener:
    """A fake peer the node can dial (addnode): listens on 127.0.0.1 at a port the kernel
    picks (port 0, so nothing is hard-coded and nothing collides). A background thread
    accepts each connection, answers with version and verack, and keeps it open in
    `conns` (P2PConnection objects, not read from) until close()."""

    def __init__(self):
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.conns = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        self.server.settimeout(0.2)
        while not self._stop:
            try:
                sock, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn = P2PConnection(sock=sock)
            try:
                conn.send("version", version_payload(int.from_bytes(dsha256(str(self.port).encode())[:8], "little")))
                conn.send("verack")
            except OSError:
                pass
            self.conns.append(conn)

    def close(self):
        self._stop = True
        self._thread.join(timeout=5)
        self.server.close()
        for c in self.conns:
            c.close()
