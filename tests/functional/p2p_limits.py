#!/usr/bin/env python3
"""P2P limits, checked against Bitcoin Core's behaviour:

1. pong handling (Core's p2p_ping.py): a pong with a wrong nonce leaves the outstanding
   ping outstanding (getpeerinfo keeps "pingwait"); a pong with nonce 0 cancels it
   ("Nonce zero": pingwait goes away, no pingtime); an unsolicited pong is ignored. None
   of these disconnect. A pong with the right nonce clears pingwait and sets pingtime
   and minping.
2. per-message limits: `headers` with 2001 headers, `inv` and `getdata` with 50,001
   entries are misbehaviour and a normal peer is disconnected at once (Core 28+: any
   misbehaviour disconnects; a 127.0.0.1 peer is not discouraged, so it may come back),
   while another test peer keeps working. Exactly 2000 headers / 50,000 entries are fine.
3. -whitelist=noban@127.0.0.1: the same oversized messages are logged as misbehaviour
   but the noban peer stays connected.
4. the addnode cap (Core's MAX_ADDNODE_CONNECTIONS = 8): with 9 added nodes only 8 are
   connected; `addnode onetry` takes no addnode slot, so it still connects with the 8
   in place. The dialled peers are Python listeners on kernel-chosen ports.
"""

import os
import re
import struct
import time

from test_framework.messages import dsha256
from test_framework.p2p import MSG_BLOCK, MSG_WTX, P2PConnection, P2PListener, parse_inv, ser_compact_size
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal, wait_until

MAX_HEADERS_RESULTS = 2000
MAX_INV_SZ = 50_000
MAX_ADDNODE_CONNECTIONS = 8
REGTEST_BITS = 0x207fffff
REGTEST_TARGET = 0x7fffff << (8 * (0x20 - 3))


def pow_headers(count):
    """`count` headers forming a chain with valid regtest proof of work, on top of a
    random (unknown) parent: only the count can make a node object to them."""
    prev = os.urandom(32)
    now = int(time.time())
    out = []
    for i in range(count):
        merkle = os.urandom(32)
        nonce = 0
        while True:
            raw = struct.pack("<i", 0x20000000) + prev + merkle + struct.pack("<III", now + i, REGTEST_BITS, nonce)
            h = dsha256(raw)
            if int.from_bytes(h, "little") <= REGTEST_TARGET:
                break
            nonce += 1
        out.append(raw)
        prev = h
    return out


def headers_msg(headers):
    return ser_compact_size(len(headers)) + b"".join(h + b"\0" for h in headers)


def inv_msg(kind, count):
    """`count` distinct entries of one type (unknown hashes)."""
    return ser_compact_size(count) + b"".join(
        struct.pack("<I", kind) + i.to_bytes(4, "little") + b"\x5a" * 28 for i in range(count))


class P2PLimitsTest(HashviveTestFramework):
    def set_test_params(self):
        self.num_nodes = 2

    def connect(self, node, auto_pong=True, sync=True):
        """A Python peer that finished the handshake with `node`; `.local` is the address
        the node sees it as."""
        conn = P2PConnection(node.p2p_port, auto_pong=auto_pong)
        conn.local = "127.0.0.1:%d" % conn.sock.getsockname()[1]
        conn.handshake()
        if sync:
            conn.sync_with_ping()
        return conn

    def info(self, node, conn):
        for p in node.getpeerinfo():
            if p["addr"] == conn.local:
                return p
        return None

    def log_has(self, node, *texts):
        log = node.debug_log_text()
        return all(t in log for t in texts)

    def misbehaving_logged(self, node, pid, reason=""):
        """A "Misbehaving: peer=<pid>" line (Core: "peer=N: reason") mentioning `reason`."""
        pattern = r"Misbehaving: peer=%d\b.*%s" % (pid, re.escape(reason))
        return re.search(pattern, node.debug_log_text()) is not None

    def run_test(self):
        n0, n1 = self.nodes
        n0.start(wait=False)
        n1.start(["-whitelist=noban@127.0.0.1"], wait=False)
        n0.wait_for_rpc_connection()
        n1.wait_for_rpc_connection()

        self.test_pong(n0)
        self.test_limits(n0)
        self.test_noban(n1)
        listeners = []
        try:
            self.test_addnode_cap(n0, listeners)
            n0.stop()
        finally:
            for lst in listeners:
                lst.close()
        n1.stop()

    def test_pong(self, node):
        self.log("pong: wrong nonce keeps the ping outstanding; nonce 0 cancels it; unsolicited is ignored")
        peer = self.connect(node, auto_pong=False, sync=False)
        nonce = struct.unpack("<Q", peer.wait_for("ping"))[0]
        assert nonce != 0
        info = self.info(node, peer)
        pid = info["id"]
        assert "pingwait" in info and "pingtime" not in info, info

        peer.send("pong", struct.pack("<Q", nonce ^ 1))
        peer.sync_with_ping()
        info = self.info(node, peer)
        assert info is not None, "disconnected after a wrong-nonce pong"
        assert "pingwait" in info and "pingtime" not in info and "minping" not in info, info
        wait_until(lambda: self.log_has(node, f"pong peer={pid}: Nonce mismatch"), what="nonce mismatch log")

        # Core: "Nonce zero" sets bPingFinished, so the ping is no longer outstanding.
        peer.send("pong", struct.pack("<Q", 0))
        peer.sync_with_ping()
        info = self.info(node, peer)
        assert info is not None, "disconnected after a zero-nonce pong"
        assert "pingwait" not in info and "pingtime" not in info, info
        wait_until(lambda: self.log_has(node, f"pong peer={pid}: Nonce zero"), what="nonce zero log")

        # No ping outstanding now: even the formerly right nonce is an unsolicited pong.
        peer.send("pong", struct.pack("<Q", nonce))
        peer.send("pong", struct.pack("<Q", 0x1122334455667788))
        peer.sync_with_ping()
        info = self.info(node, peer)
        assert info is not None, "disconnected after an unsolicited pong"
        assert "pingwait" not in info and "pingtime" not in info and "minping" not in info, info
        wait_until(lambda: self.log_has(node, f"pong peer={pid}: Unsolicited pong without ping"),
                   what="unsolicited pong log")

        self.log("pong: the right nonce clears pingwait and sets pingtime and minping")
        node.ping()  # queues a ping to every peer, as Core's `ping` RPC
        nonce2 = struct.unpack("<Q", peer.wait_for("ping"))[0]
        info = self.info(node, peer)
        assert "pingwait" in info and "pingtime" not in info, info
        # A wrong nonce in between still changes nothing.
        peer.send("pong", struct.pack("<Q", nonce2 ^ 0xff))
        peer.sync_with_ping()
        assert "pingwait" in self.info(node, peer)
        peer.send("pong", struct.pack("<Q", nonce2))
        peer.sync_with_ping()
        info = self.info(node, peer)
        assert "pingwait" not in info, info
        assert "pingtime" in info and "minping" in info, info
        assert 0 <= info["minping"] <= info["pingtime"] < 10, info
        peer.close()
        wait_until(lambda: self.info(node, peer) is None, what="pong peer gone")

    def test_limits(self, node):
        bystander = self.connect(node)
        headers = pow_headers(MAX_HEADERS_RESULTS + 1)

        self.log("at the limits: 2000 headers, 50,000 inv and getdata entries do not disconnect")
        peer = self.connect(node)
        peer.send("headers", headers_msg(headers[:MAX_HEADERS_RESULTS]))
        peer.sync_with_ping()
        peer.send("inv", inv_msg(MSG_BLOCK, MAX_INV_SZ))
        peer.sync_with_ping()
        seen = len(peer.received)
        peer.send("getdata", inv_msg(MSG_WTX, MAX_INV_SZ))
        peer.sync_with_ping(timeout=20)
        notfound = sum(len(parse_inv(p)) for c, p in peer.received[seen:] if c == "notfound")
        assert_equal(notfound, MAX_INV_SZ)
        assert self.info(node, peer) is not None
        assert not self.misbehaving_logged(node, self.info(node, peer)["id"])
        peer.close()

        self.log("oversized headers/inv/getdata: misbehaving, the peer is disconnected, others unaffected")
        cases = [
            ("headers", headers_msg(headers), f"headers message size = {MAX_HEADERS_RESULTS + 1}"),
            ("inv", inv_msg(MSG_WTX, MAX_INV_SZ + 1), f"inv message size = {MAX_INV_SZ + 1}"),
            ("getdata", inv_msg(MSG_WTX, MAX_INV_SZ + 1), f"getdata message size = {MAX_INV_SZ + 1}"),
        ]
        for command, payload, reason in cases:
            peer = self.connect(node)
            pid = self.info(node, peer)["id"]
            peer.send(command, payload)
            peer.wait_for_disconnect()
            wait_until(lambda: self.info(node, peer) is None, what=f"{command} peer removed")
            wait_until(lambda: self.misbehaving_logged(node, pid, reason), what=f"{command} log")
            # No reply was sent for the oversized message before the disconnect.
            assert "notfound" not in [c for c, _ in peer.received], peer.received
            bystander.sync_with_ping()
            assert self.info(node, bystander) is not None
        # A 127.0.0.1 peer is disconnected but not discouraged: it can connect again.
        again = self.connect(node)
        assert self.info(node, again) is not None
        again.close()
        bystander.close()

    def test_noban(self, node):
        self.log("-whitelist=noban@127.0.0.1: oversized messages are logged but do not disconnect")
        peer = self.connect(node)
        info = self.info(node, peer)
        assert "noban" in info["permissions"], info
        pid = info["id"]
        cases = [
            ("headers", headers_msg(pow_headers(MAX_HEADERS_RESULTS + 1)), f"headers message size = {MAX_HEADERS_RESULTS + 1}"),
            ("inv", inv_msg(MSG_WTX, MAX_INV_SZ + 1), f"inv message size = {MAX_INV_SZ + 1}"),
            ("getdata", inv_msg(MSG_WTX, MAX_INV_SZ + 1), f"getdata message size = {MAX_INV_SZ + 1}"),
        ]
        for command, payload, reason in cases:
            seen = len(peer.received)
            peer.send(command, payload)
            peer.sync_with_ping(timeout=20)
            assert not peer.closed
            assert self.info(node, peer) is not None, f"noban peer disconnected after oversized {command}"
            wait_until(lambda: self.misbehaving_logged(node, pid, reason), what=f"{command} log")
            # The oversized message is not processed: no getdata / notfound for it.
            replies = [c for c, _ in peer.received[seen:]]
            assert "getdata" not in replies and "notfound" not in replies, replies
        peer.close()

    def test_addnode_cap(self, node, listeners):
        self.log("addnode cap: 9 added nodes, only 8 connected")
        listeners.extend(P2PListener() for _ in range(MAX_ADDNODE_CONNECTIONS + 2))
        added, extra = listeners[:-1], listeners[-1]
        for lst in added:
            node.addnode(f"127.0.0.1:{lst.port}", "add")
        assert_equal(len(node.getaddednodeinfo()), MAX_ADDNODE_CONNECTIONS + 1)

        def manual():
            return [p for p in node.getpeerinfo() if p["connection_type"] == "manual"]

        wait_until(lambda: len(manual()) == MAX_ADDNODE_CONNECTIONS
                   and all("verack" in p["bytesrecv_per_msg"] for p in manual()),
                   timeout=20, what="8 added nodes connected")
        time.sleep(2.5)  # longer than an addnode retry round: the 9th still is not dialled
        assert_equal(len(manual()), MAX_ADDNODE_CONNECTIONS)
        assert_equal(sum(1 for lst in added if lst.conns), MAX_ADDNODE_CONNECTIONS)
        connected = [a for a in node.getaddednodeinfo() if a["connected"]]
        assert_equal(len(connected), MAX_ADDNODE_CONNECTIONS)

        self.log("addnode onetry does not use an addnode slot: it connects with 8 added nodes in place")
        node.addnode(f"127.0.0.1:{extra.port}", "onetry")
        wait_until(lambda: extra.conns and len(manual()) == MAX_ADDNODE_CONNECTIONS + 1, timeout=5,
                   what="onetry connection beyond the 8 added ones (Core: onetry takes no addnode grant)")


if __name__ == "__main__":
    P2PLimitsTest().main()
