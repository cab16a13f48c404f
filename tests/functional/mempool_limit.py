#!/usr/bin/env python3
"""Mempool size limit and expiry: -maxmempool evicts the lowest-feerate packages and
raises the rolling minimum fee ("mempool min fee not met"), which decays after a block;
-mempoolexpiry drops old transactions with their descendants, also from mempool.dat."""

import time
from decimal import Decimal

from test_framework.messages import P2WSH_OP_TRUE, spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, coinbase_txid

COIN = 100_000_000
# 2000 P2WSH outputs: ~86 kvB, close to the standard size limit.
BIG_OUTPUTS = 2000


def big_tx(coinbase_txid, fee):
    value = (50 * COIN - fee) // BIG_OUTPUTS
    return spend_op_true(coinbase_txid, 0, 50 * COIN, outputs=[(value, P2WSH_OP_TRUE)] * BIG_OUTPUTS)


class MempoolLimitTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]

        self.log("-maxmempool below 40 maximal packages is an init error")
        code, _, stderr = node.run_expect_failure(["-maxmempool=4"])
        assert_equal(code, 1)
        assert "Error: -maxmempool must be at least 5 MB" in stderr, stderr

        node.start(["-maxmempool=5"])
        rpc = node.rpc
        rpc.generatetoaddress(130, ADDR)
        cb = [None] + [coinbase_txid(rpc, h) for h in range(1, 31)]
        info = rpc.getmempoolinfo()
        assert_equal(info["maxmempool"], 5_000_000)
        assert_equal(info["mempoolminfee"], Decimal("0.00001000"))

        self.log("filling the pool past 5 MB evicts the cheapest package first")
        # A big parent at ~2 sat/vB, so evicting it makes room for any one big tx.
        cheap_parent = big_tx(cb[1], fee=172_000)
        cheap_child = spend_op_true(cheap_parent.txid(), 0, (50 * COIN - 172_000) // BIG_OUTPUTS, fee=150)
        for tx in (cheap_parent, cheap_child):
            rpc.sendrawtransaction(tx.hex())
        sent = []
        for h in range(2, 31):
            tx = big_tx(cb[h], fee=10 * 86_100)  # ~10 sat/vB
            rpc.sendrawtransaction(tx.hex())
            sent.append(tx.txid())
            if cheap_parent.txid() not in rpc.getrawmempool():
                break
        pool = rpc.getrawmempool()
        assert cheap_parent.txid() not in pool and cheap_child.txid() not in pool
        assert_equal(sorted(pool), sorted(sent))
        info = rpc.getmempoolinfo()
        assert 4_000_000 < info["usage"] <= 5_000_000, info
        # The evicted parent's package rate (172150 sat / 86151 vB, truncated to 1998
        # sat/kvB as Core's CFeeRate does) plus the incremental relay fee.
        assert_equal(info["mempoolminfee"], Decimal("0.00002998"))

        self.log("a transaction below the rolling minimum fee is refused")
        res = rpc.testmempoolaccept([spend_op_true(cb[1], 0, 50 * COIN, fee=200).hex()])[0]
        assert_equal(res["reject-reason"], "mempool min fee not met")
        res = rpc.testmempoolaccept([spend_op_true(cb[1], 0, 50 * COIN, fee=5000).hex()])[0]
        assert_equal(res["allowed"], True)

        self.log("a block lets the rolling fee decay back to -minrelaytxfee")
        now = int(time.time())
        rpc.setmocktime(now)
        rpc.generatetoaddress(1, ADDR)
        rpc.setmocktime(now + 2 * 24 * 3600)
        assert_equal(rpc.getmempoolinfo()["mempoolminfee"], Decimal("0.00001000"))
        assert_equal(rpc.testmempoolaccept([spend_op_true(cb[1], 0, 50 * COIN, fee=200).hex()])[0]["allowed"], True)
        rpc.setmocktime(0)
        node.stop()

        self.log("-mempoolexpiry drops old transactions and their descendants")
        node.start(["-mempoolexpiry=1", "-nopersistmempool"])
        rpc = node.rpc
        assert_equal(rpc.getrawmempool(), [])
        rpc.generatetoaddress(10, ADDR)
        cb = [coinbase_txid(rpc, h) for h in (31, 32, 33)]
        now = int(time.time())
        rpc.setmocktime(now)
        old_parent = spend_op_true(cb[0], 0, 50 * COIN)
        old_child = spend_op_true(old_parent.txid(), 0, 50 * COIN - 1000)
        for tx in (old_parent, old_child):
            rpc.sendrawtransaction(tx.hex())
        rpc.setmocktime(now + 1800)
        young = spend_op_true(cb[1], 0, 50 * COIN)
        rpc.sendrawtransaction(young.hex())
        assert_equal(len(rpc.getrawmempool()), 3)
        rpc.setmocktime(now + 3601)
        newest = spend_op_true(cb[2], 0, 50 * COIN)
        rpc.sendrawtransaction(newest.hex())
        assert_equal(sorted(rpc.getrawmempool()), sorted([young.txid(), newest.txid()]))
        node.stop()

        self.log("mempool.dat keeps entry times: expired entries are not reloaded")
        node.start(["-mempoolexpiry=1"])
        rpc = node.rpc
        rpc.generatetoaddress(1, ADDR)  # mines what the first part saved
        assert_equal(rpc.getrawmempool(), [])
        two_hours_ago = int(time.time()) - 7200
        rpc.setmocktime(two_hours_ago)
        rpc.sendrawtransaction(old_parent.hex())
        assert_equal(rpc.getmempoolentry(old_parent.txid())["time"], two_hours_ago)
        node.stop()
        node.start(["-mempoolexpiry=1000000"])
        assert_equal(node.getmempoolentry(old_parent.txid())["time"], two_hours_ago)
        node.stop()
        node.start(["-mempoolexpiry=1"])
        assert_equal(node.getrawmempool(), [])
        assert "0 succeeded, 0 failed, 1 expired" in node.debug_log_text()
        node.stop()


if __name__ == "__main__":
    MempoolLimitTest().main()
