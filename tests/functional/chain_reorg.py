#!/usr/bin/env python3
"""Reorganisations through invalidateblock/reconsiderblock: UTXO set restored on
disconnect, most-work chain chosen, getchaintips statuses, persistence across restart."""

from decimal import Decimal

from test_framework.messages import dsha256, spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error, coinbase_txid


class ReorgTest(HashviveTestFramework):
    def set_test_params(self):
        self.num_nodes = 3

    def run_test(self):
        self.invalidate_and_reconsider()
        self.heavier_chain_from_another_node()

    def heavier_chain_from_another_node(self):
        self.log("a heavier chain arriving by submitblock wins; its losers go back to the mempool")
        a, b = self.nodes[1], self.nodes[2]
        a.start()
        b.start()
        shared = b.generatetoaddress(110, ADDR)
        for h in shared:
            assert_equal(a.submitblock(b.getblock(h, 0)), None)
        assert_equal(a.getbestblockhash(), shared[-1])
        utxo_a, utxo_b = a.gettxoutsetinfo(), b.gettxoutsetinfo()
        assert_equal(utxo_a, {**utxo_b, "disk_size": utxo_a["disk_size"]})
        assert_equal(len(utxo_a["hash_serialized_3"]), 64)
        assert "hash_serialized_3" not in a.gettxoutsetinfo("none")
        assert_raises_rpc_error(-8, "'bogus' is not a valid hash_type", a.gettxoutsetinfo, "bogus")
        cb = coinbase_txid(a, 2)
        spend = spend_op_true(cb, 0, 50 * 100_000_000)
        a.sendrawtransaction(spend.hex())
        losing = a.generatetoaddress(1, ADDR)[0]
        assert_equal(a.getrawmempool(), [])
        heavier = b.generatetodescriptor(3, "raw(51)")
        assert_equal(a.submitblock(b.getblock(heavier[0], 0)), "inconclusive")  # equal work: not yet
        assert_equal(a.getbestblockhash(), losing)
        for h in heavier[1:]:
            assert_equal(a.submitblock(b.getblock(h, 0)), None)
        assert_equal(a.getbestblockhash(), heavier[-1])
        assert_equal(a.getrawmempool(), [spend.txid()])
        tips = {t["hash"]: t["status"] for t in a.getchaintips()}
        assert_equal(tips, {heavier[-1]: "active", losing: "valid-fork"})
        assert_equal(a.gettxout(cb, 0, False)["value"], Decimal("50.00000000"))
        self.log("a corrupted block is refused")
        bad = b.getblock(b.generatetoaddress(1, ADDR)[0], 0)
        # Corrupt the coinbase output value: merkle root mismatch.
        pos = bad.index("ffffffff02") + len("ffffffff02")
        bad = bad[:pos] + ("01" if bad[pos:pos + 2] != "01" else "02") + bad[pos + 2:]
        assert_equal(a.submitblock(bad), "bad-txnmrklroot")
        assert_equal(a.getbestblockhash(), heavier[-1])

        self.log("submitheader: headers-only tips, then the blocks")
        good = b.getbestblockhash()  # the valid block behind the corrupted copy
        nxt = b.generatetoaddress(1, ADDR)[0]
        assert_raises_rpc_error(-25, f"Must submit previous header ({good}) first", a.submitheader, b.getblockheader(nxt, False))
        assert_equal(a.submitheader(b.getblockheader(good, False)), None)
        assert_equal(a.submitheader(b.getblockheader(good, False)), None)  # again: accepted silently
        assert_equal(a.submitheader(b.getblockheader(nxt, False)), None)
        info = a.getblockchaininfo()
        assert_equal((info["blocks"], info["headers"]), (113, 115))
        assert_equal({t["hash"]: t["status"] for t in a.getchaintips()}[nxt], "headers-only")
        assert_equal(a.getblockheader(nxt)["confirmations"], -1)
        assert_raises_rpc_error(-1, "not fully downloaded", a.getblock, nxt)
        assert_equal(a.submitblock(b.getblock(nxt, 0)), "inconclusive")  # its parent has no data yet
        assert_equal(a.submitblock(b.getblock(good, 0)), None)
        assert_equal(a.getbestblockhash(), nxt)
        header = bytearray.fromhex(b.getblockheader(nxt, False))
        target = 0x7fffff << (8 * (0x20 - 3))
        while True:
            header[76] = (header[76] + 1) % 256
            if int.from_bytes(dsha256(bytes(header)), "little") > target:
                break
        assert_raises_rpc_error(-25, "high-hash", a.submitheader, header.hex())
        assert_raises_rpc_error(-22, "Block header decode failed", a.submitheader, "00")
        a.stop()
        b.stop()

    def invalidate_and_reconsider(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc
        rpc.generatetoaddress(101, ADDR)
        cb1 = rpc.getblock(rpc.getblockhash(1), 2)["tx"][0]
        spend = spend_op_true(cb1["txid"], 0, 50 * 100_000_000)
        old102 = rpc.generateblock(ADDR, [spend.hex()])["hash"]
        old_cb = rpc.getblock(old102)["tx"][0]
        assert_equal(rpc.gettxout(cb1["txid"], 0), None)

        self.log("invalidateblock disconnects and restores spent coins")
        rpc.invalidateblock(old102)
        assert_equal(rpc.getblockcount(), 101)
        # The UTXO set has the coin back; the mempool has the disconnected spend again.
        assert_equal(rpc.gettxout(cb1["txid"], 0, False)["value"], Decimal("50.00000000"))
        assert_equal(rpc.gettxout(spend.txid(), 0, False), None)
        assert_equal(rpc.gettxout(old_cb, 0, False), None)
        assert_equal(rpc.getrawmempool(), [spend.txid()])
        tips = {t["hash"]: t for t in rpc.getchaintips()}
        assert_equal(tips[old102]["status"], "invalid")
        assert_equal(tips[old102]["branchlen"], 1)

        self.log("a longer branch wins; the reconsidered shorter one is a valid fork")
        new = rpc.generatetoaddress(2, ADDR)
        assert_equal(rpc.getrawmempool(), [])  # mined again on the new branch
        assert_equal(rpc.getblock(new[0])["tx"][1], spend.txid())
        rpc.reconsiderblock(old102)
        assert_equal(rpc.getbestblockhash(), new[1])
        tips = {t["hash"]: t for t in rpc.getchaintips()}
        assert_equal(tips[old102], {"height": 102, "hash": old102, "branchlen": 1, "status": "valid-fork"})
        assert_equal(tips[new[1]], {"height": 103, "hash": new[1], "branchlen": 0, "status": "active"})
        assert_equal(rpc.getblockheader(old102)["confirmations"], -1)

        self.log("invalidating the active branch reorganises onto the fork")
        rpc.invalidateblock(new[0])
        assert_equal(rpc.getbestblockhash(), old102)
        assert_equal(rpc.gettxout(spend.txid(), 0)["value"], Decimal("49.99999000"))
        assert_equal(rpc.gettxout(cb1["txid"], 0, False), None)
        assert_equal(rpc.getrawmempool(), [])
        assert_equal(rpc.getblockhash(102), old102)

        self.log("reconsiderblock goes back to the most-work chain")
        rpc.reconsiderblock(new[1])
        assert_equal(rpc.getbestblockhash(), new[1])
        # The spend is confirmed on this branch too, in new[0] at height 102.
        assert_equal(rpc.gettxout(spend.txid(), 0)["confirmations"], 2)
        assert_equal(rpc.gettxout(cb1["txid"], 0, False), None)

        self.log("errors")
        assert_raises_rpc_error(-5, "Block not found", rpc.invalidateblock, "11" * 32)
        assert_raises_rpc_error(-5, "Block not found", rpc.reconsiderblock, "11" * 32)
        assert_raises_rpc_error(-8, "blockhash must be of length 64", rpc.invalidateblock, "11")

        self.log("block tree and statuses survive a restart")
        rpc.invalidateblock(new[1])
        before = sorted(rpc.getchaintips(), key=lambda t: t["hash"])
        best = rpc.getbestblockhash()
        node.stop()
        node.start()
        assert_equal(node.getbestblockhash(), best)
        assert_equal(sorted(node.getchaintips(), key=lambda t: t["hash"]), before)
        node.reconsiderblock(new[1])
        assert_equal(node.getbestblockhash(), new[1])
        node.stop()


if __name__ == "__main__":
    ReorgTest().main()
