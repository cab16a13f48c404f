#!/usr/bin/env python3
"""Concurrent RPC clients: miners, a transaction sender and readers at once. Nothing
deadlocks or fails, and the chain, UTXO set and mempool agree afterwards."""

import threading
import time
from decimal import Decimal

from test_framework.authproxy import JSONRPCException
from test_framework.messages import spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, coinbase_txid


class ConcurrencyTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start(["-rpcthreads=8"])
        node.generatetoaddress(150, ADDR)
        coinbases = [coinbase_txid(node, h) for h in range(1, 50)]
        stop = threading.Event()
        errors = []
        sent = []

        def run(fn):
            proxy = node.proxy(timeout=60)
            try:
                while not stop.is_set():
                    fn(proxy)
            except Exception as e:  # any failure is a test failure, reported below
                errors.append(repr(e))
            finally:
                proxy.close()

        def miner(p):
            p.generatetoaddress(3, ADDR)

        def sender(p):
            if not coinbases:
                time.sleep(0.01)
                return
            tx = spend_op_true(coinbases.pop(), 0, 50 * 100_000_000)
            sent.append(p.sendrawtransaction(tx.hex()))

        def reader(p):
            h = p.getbestblockhash()
            try:
                p.getblock(h, 2)
            except JSONRPCException as e:  # the tip may move between the two calls
                if e.error["code"] != -5:
                    raise
            p.getchaintips()
            p.getrawmempool(True)
            p.getmempoolinfo()
            p.getblocktemplate({"rules": ["segwit"]})

        threads = [threading.Thread(target=run, args=(f,)) for f in (miner, miner, sender, reader, reader)]
        for t in threads:
            t.start()
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join()
        assert_equal(errors, [])
        self.log(f"mined to height {node.getblockcount()}, sent {len(sent)} transactions")
        assert len(sent) > 0

        height = node.getblockcount()
        info = node.gettxoutsetinfo()
        subsidy = sum((50 * 100_000_000) >> (h // 150) for h in range(1, height + 1))
        assert_equal(info["total_amount"], Decimal(subsidy) / 100_000_000)
        assert_equal(len(node.getchaintips()), 1)
        # Every accepted transaction ends up confirmed, with its output unspent.
        node.generatetoaddress(1, ADDR)
        assert_equal(node.getrawmempool(), [])
        for txid in sent:
            assert node.gettxout(txid, 0)["confirmations"] >= 1, txid
        assert_equal(node.verifychain(4, 0), True)
        node.stop()


if __name__ == "__main__":
    ConcurrencyTest().main()
