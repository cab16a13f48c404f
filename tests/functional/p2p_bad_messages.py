#!/usr/bin/env python3
"""P2P robustness: a Python test peer does the handshake (checking the order of Core's
messages), then sends garbage, an oversized message, a bad checksum and a malformed
payload. Each time the node disconnects that peer with a -debug=net log line, stays up,
and keeps serving its other peers. Unknown messages are ignored; getheaders and getdata
are served, with notfound for transactions the node does not have."""

import os
import struct

from test_framework.p2p import (MSG_BLOCK, MSG_WITNESS_BLOCK, MSG_WTX, P2PConnection, frame, getheaders_payload,
                                inv_payload, parse_headers, parse_inv)
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, wait_until


class P2PBadMessagesTest(HashviveTestFramework):
    def set_test_params(self):
        self.num_nodes = 2

    def log_has(self, text):
        with open(self.nodes[0].debug_log) as f:
            return text in f.read()

    def python_peers(self):
        return [p for p in self.nodes[0].getpeerinfo() if p["subver"].startswith("/python-p2p")]

    def fresh_peer(self):
        peer = P2PConnection(self.nodes[0].p2p_port)
        peer.handshake()
        peer.sync_with_ping()
        return peer

    def check_served(self):
        """Node1 still gets new blocks from node0."""
        self.nodes[0].generatetoaddress(1, ADDR)
        self.sync_blocks()

    def run_test(self):
        n0, n1 = self.nodes
        n0.start()
        n1.start()
        n0.generatetoaddress(10, ADDR)
        self.connect_nodes(1, 0)
        self.sync_blocks()

        self.log("handshake: version, wtxidrelay and sendaddrv2 before verack; then sendheaders, feefilter, ping")
        peer = P2PConnection(n0.p2p_port)
        before = peer.handshake()
        assert_equal(before, ["version", "wtxidrelay", "sendaddrv2", "verack"])
        version = peer.received[0][1]
        assert_equal(struct.unpack_from("<i", version, 0)[0], 70016)
        assert_equal(struct.unpack_from("<Q", version, 4)[0], 9)
        assert b"/hashvive:" in version and b"(testnode0)/" in version
        peer.wait_for("ping")
        after = [c for c, _ in peer.received[4:]]
        for cmd in ("sendheaders", "feefilter", "ping"):
            assert cmd in after, after
        wait_until(lambda: self.python_peers() and "pingtime" in self.python_peers()[0], what="pong recorded")
        assert_equal(self.python_peers()[0]["version"], 70016)

        self.log("unknown messages are ignored")
        peer.send("foobar", b"\x01\x02")
        peer.sync_with_ping()
        assert_equal(len(self.python_peers()), 1)

        self.log("getheaders and getdata are served; notfound for unknown transactions (not blocks, as in Core)")
        genesis = n0.getblockhash(0)
        peer.send("getheaders", getheaders_payload([genesis]))
        headers = parse_headers(peer.wait_for("headers"))
        assert_equal(headers, [n0.getblockhash(h) for h in range(1, 11)])
        peer.send("getdata", inv_payload([(MSG_WITNESS_BLOCK, n0.getblockhash(3))]))
        block = peer.wait_for("block")
        info = n0.getblock(n0.getblockhash(3))
        assert_equal(len(block), info["size"])
        # MSG_BLOCK: the same block without witnesses (the coinbase's commitment nonce).
        peer.send("getdata", inv_payload([(MSG_BLOCK, n0.getblockhash(3))]))
        assert_equal(len(peer.wait_for("block")), info["strippedsize"])
        assert info["strippedsize"] < info["size"]
        missing = [(MSG_WITNESS_BLOCK, "11" * 32), (MSG_WTX, "22" * 32)]
        peer.send("getdata", inv_payload(missing))
        assert_equal(parse_inv(peer.wait_for("notfound")), missing[1:])

        self.log("garbage (wrong magic) gets the peer disconnected")
        peer.send_raw(os.urandom(100))
        peer.wait_for_disconnect()
        wait_until(lambda: self.log_has("Header error: Wrong MessageStart"), what="log line")
        wait_until(lambda: not self.python_peers(), what="peer removed")
        self.check_served()

        self.log("an oversized message gets the peer disconnected")
        peer = self.fresh_peer()
        peer.send_raw(frame("block", b"", length=4_000_001))
        peer.wait_for_disconnect()
        wait_until(lambda: self.log_has("Header error: Size too large (block, 4000001 bytes)"), what="log line")
        self.check_served()

        self.log("a bad checksum gets the peer disconnected")
        peer = self.fresh_peer()
        peer.send_raw(frame("ping", struct.pack("<Q", 1), checksum=b"\0\0\0\0"))
        peer.wait_for_disconnect()
        wait_until(lambda: self.log_has("Header error: Wrong checksum (ping, 8 bytes)"), what="log line")
        self.check_served()

        self.log("a malformed payload gets the peer disconnected")
        peer = self.fresh_peer()
        peer.send("headers", b"\x05" + b"\0" * 40)
        peer.wait_for_disconnect()
        wait_until(lambda: self.log_has("malformed headers message"), what="log line")

        self.log("a peer that stays silent does not stall the others")
        silent = P2PConnection(n0.p2p_port)
        silent.send_raw(frame("version", b"")[:10])
        self.check_served()
        silent.close()

        assert_equal(n0.getconnectioncount() >= 1, True)
        n0.stop()
        n1.stop()


if __name__ == "__main__":
    P2PBadMessagesTest().main()
