#!/usr/bin/env python3
"""-txindex: built on enable for the existing chain, kept through reorgs, dropped on
disable; getrawtransaction and getindexinfo use it."""

from test_framework.messages import spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error, coinbase_txid


class TxIndexTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc
        rpc.generatetoaddress(110, ADDR)
        cb = coinbase_txid(rpc, 1)
        tx = spend_op_true(cb, 0, 50 * 100_000_000)
        rpc.sendrawtransaction(tx.hex())
        block = rpc.generatetoaddress(1, ADDR)[0]
        assert_raises_rpc_error(-5, "Use -txindex or provide a block hash", rpc.getrawtransaction, tx.txid())
        assert_equal(rpc.getindexinfo(), {})
        node.stop()

        self.log("enabling -txindex indexes the existing chain")
        node.start(["-txindex"])
        rpc = node.rpc
        assert_equal(rpc.getindexinfo(), {"txindex": {"synced": True, "best_block_height": 111}})
        assert_equal(rpc.getindexinfo("txindex")["txindex"]["synced"], True)
        assert_equal(rpc.getindexinfo("coinstatsindex"), {})
        assert_equal(rpc.getrawtransaction(tx.txid()), tx.hex())
        v = rpc.getrawtransaction(tx.txid(), 1)
        assert_equal((v["blockhash"], v["confirmations"]), (block, 1))
        assert "in_active_chain" not in v
        assert_equal(rpc.getrawtransaction(cb, True)["blockhash"], rpc.getblockhash(1))
        assert_raises_rpc_error(-5, "No such mempool or blockchain transaction", rpc.getrawtransaction, "aa" * 32)

        self.log("reorgs keep the index in step")
        rpc.invalidateblock(block)
        v = rpc.getrawtransaction(tx.txid(), 1)
        assert "blockhash" not in v  # back in the mempool
        new = rpc.generatetodescriptor(1, "raw(51)")[0]
        assert_equal(rpc.getrawtransaction(tx.txid(), 1)["blockhash"], new)
        rpc.invalidateblock(new)
        rpc.reconsiderblock(block)
        rpc.generatetoaddress(1, ADDR)
        assert_equal(rpc.getrawtransaction(tx.txid(), 1)["blockhash"], block)
        node.stop()

        self.log("disabling drops the index; enabling rebuilds it")
        node.start()
        assert_raises_rpc_error(-5, "Use -txindex", node.getrawtransaction, tx.txid())
        node.stop()
        node.start(["-txindex"])
        assert_equal(node.getrawtransaction(tx.txid(), 1)["blockhash"], block)
        node.stop()


if __name__ == "__main__":
    TxIndexTest().main()
