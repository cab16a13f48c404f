#!/usr/bin/env python3
"""TRUC (version 3) policy as Core's: version inheritance, size limits, one parent and one
child, and sibling eviction, all refused as TRUC-violation with Core's messages."""

from test_framework.messages import OP_TRUE_SCRIPT, P2WSH_OP_TRUE, Tx
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error, coinbase_txid

COIN = 100_000_000


def spend(txid, vout, value, version=3, fee=1000, outputs=1):
    """Spends a P2WSH(OP_TRUE) output into `outputs` equal P2WSH(OP_TRUE) outputs."""
    each = (value - fee) // outputs
    return Tx([(txid, vout, 0xffffffff, [OP_TRUE_SCRIPT])], [(each, P2WSH_OP_TRUE)] * outputs, version=version)


def name(tx):
    return f"{tx.txid()} (wtxid={tx.wtxid()})"


class MempoolTrucTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc
        rpc.generatetoaddress(110, ADDR)
        cb = [None] + [coinbase_txid(rpc, h) for h in range(1, 8)]
        value = 50 * COIN

        def rejected(tx, message):
            assert_raises_rpc_error(-26, f"TRUC-violation, {message}", rpc.sendrawtransaction, tx.hex())

        self.log("one parent, one child; no grandchild")
        parent = spend(cb[1], 0, value, outputs=2)
        rpc.sendrawtransaction(parent.hex())
        half = (value - 1000) // 2
        child = spend(parent.txid(), 0, half)
        rpc.sendrawtransaction(child.hex())
        grandchild = spend(child.txid(), 0, half - 1000)
        rejected(grandchild, f"tx {name(grandchild)} would have too many ancestors")

        self.log("version 3 and other versions do not spend each other unconfirmed")
        other = spend(parent.txid(), 1, half, version=2)
        rejected(other, f"non-version=3 tx {name(other)} cannot spend from version=3 tx {name(parent)}")
        v2_parent = spend(cb[2], 0, value, version=2)
        rpc.sendrawtransaction(v2_parent.hex())
        v3_child = spend(v2_parent.txid(), 0, value - 1000)
        rejected(v3_child, f"version=3 tx {name(v3_child)} cannot spend from non-version=3 tx {name(v2_parent)}")

        self.log("size limits: 10,000 vB, and 1,000 vB for a child")
        big = spend(cb[3], 0, value, fee=20_000, outputs=240)
        vsize = rpc.decoderawtransaction(big.hex())["vsize"]
        rejected(big, f"version=3 tx {name(big)} is too big: {vsize} > 10000 virtual bytes")
        assert_equal(rpc.testmempoolaccept([spend(cb[3], 0, value, fee=20_000, outputs=200).hex()])[0]["allowed"], True)
        lone = spend(cb[4], 0, value)
        rpc.sendrawtransaction(lone.hex())
        wide_child = spend(lone.txid(), 0, value - 1000, fee=5000, outputs=25)
        vsize = rpc.decoderawtransaction(wide_child.hex())["vsize"]
        rejected(wide_child, f"version=3 child tx {name(wide_child)} is too big: {vsize} > 1000 virtual bytes")

        self.log("a second child replaces the first under the replacement rules (sibling eviction)")
        cheap = spend(cb[5], 0, value, outputs=2)
        rpc.sendrawtransaction(cheap.hex())
        first = spend(cheap.txid(), 0, half, fee=1000)
        rpc.sendrawtransaction(first.hex())
        stingy = spend(cheap.txid(), 1, half, fee=1050)
        assert_raises_rpc_error(-26, "insufficient fee (including sibling eviction)", rpc.sendrawtransaction,
                                stingy.hex())
        second = spend(cheap.txid(), 1, half, fee=5000)
        rpc.sendrawtransaction(second.hex())
        pool = rpc.getrawmempool()
        assert second.txid() in pool and first.txid() not in pool
        assert_equal(rpc.getmempoolentry(cheap.txid())["spentby"], [second.txid()])


if __name__ == "__main__":
    MempoolTrucTest().main()
