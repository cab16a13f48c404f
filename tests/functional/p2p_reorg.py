#!/usr/bin/env python3
"""Reorgs across peers: two nodes mine separate forks while disconnected, reconnect and
converge on the heavier one. The loser's confirmed transaction returns to its mempool,
and unsolicited blocks from a Python peer are accepted."""

from test_framework.messages import spend_op_true
from test_framework.p2p import P2PConnection
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, wait_until, coinbase_txid

COIN = 100_000_000


class P2PReorgTest(HashviveTestFramework):
    def set_test_params(self):
        self.num_nodes = 2

    def run_test(self):
        n0, n1 = self.nodes
        n0.start()
        n1.start()
        n0.generatetoaddress(110, ADDR)
        self.connect_nodes(0, 1)
        self.sync_blocks()

        self.log("disconnect; node0 mines 2 blocks confirming a transaction, node1 mines 4")
        self.disconnect_nodes(0, 1)
        assert_equal((n0.getconnectioncount(), n1.getconnectioncount()), (0, 0))
        cb = coinbase_txid(n0, 1)
        txid = n0.sendrawtransaction(spend_op_true(cb, 0, 50 * COIN, fee=3000).hex())
        short = n0.generatetoaddress(2, ADDR)
        assert txid in n0.getblock(short[0])["tx"]
        long = n1.generatetoaddress(4, ADDR)

        self.log("reconnect: both converge on node1's heavier chain")
        self.connect_nodes(0, 1)
        self.sync_blocks()
        assert_equal(n0.getbestblockhash(), long[-1])
        assert_equal(n0.getblockcount(), 114)
        tips = {t["hash"]: t["status"] for t in n0.getchaintips()}
        assert_equal(tips[short[-1]], "valid-fork")
        self.log("the transaction of the losing fork is back in node0's mempool")
        assert_equal(n0.getrawmempool(), [txid])

        self.log("node0 mines on top again; node1 follows (announcement with headers)")
        n0.generatetoaddress(3, ADDR)
        self.sync_blocks()
        assert_equal(n1.getblockcount(), 117)
        assert txid in n1.getblock(n1.getblockhash(115))["tx"]

        self.log("an unsolicited block from a Python peer is accepted and relayed")
        template_node_block = n1.generateblock(ADDR, [], False)
        raw = template_node_block["hex"]
        peer = P2PConnection(n0.p2p_port)
        peer.handshake()
        peer.send("block", bytes.fromhex(raw))
        peer.sync_with_ping()
        assert_equal(n0.getbestblockhash(), template_node_block["hash"])
        self.sync_blocks()
        peer.close()

        n0.stop()
        n1.stop()


if __name__ == "__main__":
    P2PReorgTest().main()
