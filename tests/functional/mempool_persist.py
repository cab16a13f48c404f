#!/usr/bin/env python3
"""Mempool persistence: mempool.dat written at shutdown and by savemempool, reloaded at
start (-persistmempool, default on), not written after kill -9."""

import os

from test_framework.messages import spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, coinbase_txid


class MempoolPersistTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc
        rpc.generatetoaddress(110, ADDR)
        cb = [coinbase_txid(rpc, h) for h in (1, 2, 3)]
        parent = spend_op_true(cb[0], 0, 50 * 100_000_000)
        child = spend_op_true(parent.txid(), 0, 50 * 100_000_000 - 1000)
        for tx in (parent, child):
            rpc.sendrawtransaction(tx.hex())
        expected = sorted([parent.txid(), child.txid()])
        dat = os.path.join(node.chaindir, "mempool.dat")

        self.log("a clean stop writes mempool.dat; the next start loads it")
        node.stop()
        assert os.path.exists(dat)
        with open(dat, "rb") as f:
            assert_equal(f.read(8), (1).to_bytes(8, "little"))
        node.start()
        assert_equal(sorted(node.getrawmempool()), expected)
        assert_equal(node.getmempoolentry(child.txid())["depends"], [parent.txid()])

        self.log("-nopersistmempool neither loads nor writes")
        node.stop()
        node.start(["-nopersistmempool"])
        assert_equal(node.getrawmempool(), [])
        node.sendrawtransaction(spend_op_true(cb[1], 0, 50 * 100_000_000).hex())
        node.stop()
        node.start()
        assert_equal(sorted(node.getrawmempool()), expected)

        self.log("savemempool, then kill -9: the saved state comes back")
        third = spend_op_true(cb[2], 0, 50 * 100_000_000)
        node.sendrawtransaction(third.hex())
        assert_equal(node.savemempool(), {"filename": dat})
        node.sendrawtransaction(spend_op_true(cb[1], 0, 50 * 100_000_000).hex())
        node.kill()
        node.start()
        assert_equal(sorted(node.getrawmempool()), sorted(expected + [third.txid()]))

        self.log("transactions confirmed meanwhile are not reloaded")
        node.generatetoaddress(1, ADDR)
        node.stop()
        node.start()
        assert_equal(node.getrawmempool(), [])
        node.stop()


if __name__ == "__main__":
    MempoolPersistTest().main()
