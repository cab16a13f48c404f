#!/usr/bin/env python3
"""P2P relay with Python test peers: headers-first download with several blocks in
flight, block announcements with headers (after sendheaders) or inv, transaction relay
inv(wtxid) -> getdata -> tx, announcements by wtxid or txid, orphans held until their
parent arrives, and -blocksonly refusing transaction relay."""

from test_framework.messages import dsha256, spend_op_true
from test_framework.p2p import (MSG_BLOCK, MSG_TX, MSG_WITNESS_BLOCK, MSG_WITNESS_TX, MSG_WTX, P2PConnection,
                                inv_payload, parse_inv, read_compact_size)
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, wait_until, coinbase_txid

COIN = 100_000_000


def wtxid(tx):
    return dsha256(tx.serialize())[::-1].hex()


def headers_payload(headers_hex):
    out = bytes([len(headers_hex)])
    for h in headers_hex:
        out += bytes.fromhex(h) + b"\0"
    return out


class P2PRelayTest(HashviveTestFramework):
    def set_test_params(self):
        self.num_nodes = 2

    def wait_inv(self, peer, kind):
        """Next inv of the given type, skipping other messages and inv types."""
        while True:
            items = [i for i in parse_inv(peer.wait_for("inv")) if i[0] == kind]
            if items:
                return items

    def run_test(self):
        n0, n1 = self.nodes
        n0.start()
        n1.start()
        blocks = n1.generatetoaddress(10, ADDR)

        self.log("headers from a peer: the node fetches the blocks, several in one getdata")
        p = P2PConnection(n0.p2p_port)
        p.handshake(wtxidrelay=True)
        p.wait_for("getheaders")
        p.send("sendheaders")
        p.send("headers", headers_payload([n1.getblockheader(b, False) for b in blocks]))
        getdata = parse_inv(p.wait_for("getdata"))
        assert_equal(getdata, [(MSG_WITNESS_BLOCK, b) for b in blocks])
        assert_equal(len([i for i in n0.getpeerinfo()[0]["inflight"]]), 10)
        for b in blocks:
            p.send("block", bytes.fromhex(n1.getblock(b, 0)))
        p.sync_with_ping()
        assert_equal(n0.getbestblockhash(), blocks[-1])
        assert_equal(n0.getpeerinfo()[0]["inflight"], [])
        assert_equal(n0.getpeerinfo()[0]["synced_headers"], 10)

        self.log("new blocks: headers to a peer that sent sendheaders, inv to one that did not")
        q = P2PConnection(n0.p2p_port)
        q.handshake()
        q.sync_with_ping()
        new = n0.generatetoaddress(1, ADDR)[0]
        hdrs = p.wait_for("headers")
        count, pos = read_compact_size(hdrs, 0)
        assert_equal(count, 1)
        assert_equal(dsha256(hdrs[pos:pos + 80])[::-1].hex(), new)
        assert_equal(self.wait_inv(q, MSG_BLOCK), [(MSG_BLOCK, new)])
        n0.generatetoaddress(100, ADDR)

        self.log("an orphan is held and its parent requested from the sender")
        cb = coinbase_txid(n0, 1)
        parent = spend_op_true(cb, 0, 50 * COIN, fee=1000)
        child = spend_op_true(parent.txid(), 0, 50 * COIN - 1000, fee=1000)
        p.send("tx", child.serialize())
        request = parse_inv(p.wait_for("getdata"))
        assert_equal(request, [(MSG_WITNESS_TX, parent.txid())])
        assert_equal(n0.getrawmempool(), [])
        p.send("tx", parent.serialize())
        p.sync_with_ping()
        assert_equal(sorted(n0.getrawmempool()), sorted([parent.txid(), child.txid()]))
        assert_equal(n0.getpeerinfo()[0]["last_transaction"] > 0, True)
        # q learns of both (by txid: it did not send wtxidrelay); p sent them, so it does not.
        got = set()
        while len(got) < 2:
            got.update(self.wait_inv(q, MSG_TX))
        assert_equal(got, {(MSG_TX, parent.txid()), (MSG_TX, child.txid())})

        self.log("inv(wtxid) -> getdata -> tx; announced to others by wtxid or txid")
        cb2 = coinbase_txid(n0, 2)
        tx = spend_op_true(cb2, 0, 50 * COIN, fee=1000)
        p.send("inv", inv_payload([(MSG_WTX, wtxid(tx))]))
        assert_equal(parse_inv(p.wait_for("getdata")), [(MSG_WTX, wtxid(tx))])
        p.send("tx", tx.serialize())
        assert_equal(self.wait_inv(q, MSG_TX), [(MSG_TX, tx.txid())])
        assert tx.txid() in n0.getrawmempool()
        tx2 = spend_op_true(coinbase_txid(n0, 3), 0, 50 * COIN, fee=1000)
        n0.sendrawtransaction(tx2.hex())
        assert_equal(self.wait_inv(p, MSG_WTX), [(MSG_WTX, wtxid(tx2))])
        p.send("getdata", inv_payload([(MSG_WTX, wtxid(tx2))]))
        assert_equal(p.wait_for("tx"), tx2.serialize())
        # The same transaction announced again is not requested again.
        seen = len(p.received)
        p.send("inv", inv_payload([(MSG_WTX, wtxid(tx))]))
        p.sync_with_ping()
        assert "getdata" not in [c for c, _ in p.received[seen:]]

        self.log("an orphan whose parent is confirmed by a later block is accepted then")
        self.connect_nodes(1, 0)
        self.sync_blocks()
        self.disconnect_nodes(1, 0)
        cb4 = coinbase_txid(n1, 4)
        parent2 = spend_op_true(cb4, 0, 50 * COIN, fee=1000)
        n1.sendrawtransaction(parent2.hex())
        block = n1.generatetoaddress(1, ADDR)[0]
        child2 = spend_op_true(parent2.txid(), 0, 50 * COIN - 1000, fee=1000)
        p.send("tx", child2.serialize())
        assert_equal(parse_inv(p.wait_for("getdata")), [(MSG_WITNESS_TX, parent2.txid())])
        p.send("notfound", inv_payload([(MSG_WITNESS_TX, parent2.txid())]))
        p.sync_with_ping()
        assert child2.txid() not in n0.getrawmempool()
        p.send("block", bytes.fromhex(n1.getblock(block, 0)))
        wait_until(lambda: child2.txid() in n0.getrawmempool(), what="orphan accepted after the block")

        self.log("-blocksonly: relay=0 in version, and a peer announcing transactions is dropped")
        p.close()
        q.close()
        n0.stop()
        n0.start(["-blocksonly"])
        r = P2PConnection(n0.p2p_port)
        r.handshake()
        version = r.received[0][1]
        assert_equal(version[-1], 0)  # fRelay
        r.send("inv", inv_payload([(MSG_WTX, "33" * 32)]))
        r.wait_for_disconnect()
        with open(n0.debug_log) as f:
            assert "sent in violation of protocol" in f.read()

        n0.stop()
        n1.stop()


if __name__ == "__main__":
    P2PRelayTest().main()
