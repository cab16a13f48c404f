#!/usr/bin/env python3
"""Mempool: acceptance and Core's reject reasons (testmempoolaccept, sendrawtransaction),
mempool RPC shapes, full RBF, ancestor limits, block assembly by ancestor fee rate,
removal on connect, resurrection on reorg, -minrelaytxfee."""

from decimal import Decimal

from test_framework.messages import OP_TRUE_SCRIPT, P2WSH_OP_TRUE, Tx, spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error, coinbase_txid

COIN = 100_000_000


class MempoolTest(HashviveTestFramework):
    def tma(self, tx, *extra):
        return self.rpc.testmempoolaccept([tx.hex()], *extra)[0]

    def assert_rejected(self, tx, reason):
        res = self.tma(tx)
        assert_equal(res["allowed"], False)
        assert_equal(res["reject-reason"], reason)
        # Core gives the full state too, except for missing inputs.
        if reason == "missing-inputs":
            assert "reject-details" not in res, res
        else:
            assert res["reject-details"].startswith(reason.split(" (")[0]), res

    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = self.rpc = node.rpc
        bare_op_true = rpc.generatetodescriptor(1, "raw(51)")[0]
        rpc.generatetoaddress(199, ADDR)
        cb = [None] + [coinbase_txid(rpc, h) for h in range(2, 61)]

        self.log("testmempoolaccept: allowed result shape")
        tx = spend_op_true(cb[1], 0, 50 * COIN, fee=1000)
        res = self.tma(tx)
        assert_equal(list(res), ["txid", "wtxid", "allowed", "vsize", "fees"])
        assert_equal((res["txid"], res["allowed"]), (tx.txid(), True))
        assert_equal(res["fees"]["base"], Decimal("0.00001000"))
        assert_equal(res["fees"]["effective-includes"], [res["wtxid"]])
        assert_equal(rpc.getrawmempool(), [])  # test only: nothing added

        self.log("testmempoolaccept: Core's reject reasons")
        self.assert_rejected(spend_op_true("11" * 32, 0, COIN), "missing-inputs")
        young = coinbase_txid(rpc, 150)
        self.assert_rejected(spend_op_true(young, 0, 25 * COIN), "bad-txns-premature-spend-of-coinbase")
        self.assert_rejected(spend_op_true(cb[2], 0, 50 * COIN, fee=0), "min relay fee not met")
        self.assert_rejected(spend_op_true(cb[2], 0, 50 * COIN, fee=-1), "bad-txns-in-belowout")
        self.assert_rejected(spend_op_true(cb[2], 0, 50 * COIN, outputs=[(100, P2WSH_OP_TRUE)]), "dust")
        self.assert_rejected(spend_op_true(cb[2], 0, 50 * COIN, outputs=[(49 * COIN, bytes([0x51]))]), "scriptpubkey")
        two_returns = [(49 * COIN, P2WSH_OP_TRUE), (0, bytes.fromhex("6a0101")), (0, bytes.fromhex("6a0102"))]
        self.assert_rejected(spend_op_true(cb[2], 0, 50 * COIN, outputs=two_returns), "multi-op-return")
        self.assert_rejected(spend_op_true(cb[2], 0, 50 * COIN, sequence=0, locktime=1000), "non-final")
        self.assert_rejected(spend_op_true(cb[2], 0, 50 * COIN, fee=COIN), "max-fee-exceeded")
        assert_equal(self.tma(spend_op_true(cb[2], 0, 50 * COIN, fee=COIN), 0)["allowed"], True)
        bad_version = spend_op_true(cb[2], 0, 50 * COIN)
        bad_version.version = 4
        self.assert_rejected(bad_version, "version")
        self.assert_rejected(spend_op_true(cb[2], 0, 50 * COIN, witness=[bytes([0])]),
                             "mandatory-script-verify-flag-failed (script evaluation failed: ERR_SCRIPT)")
        bare = rpc.getblock(bare_op_true)["tx"][0]
        self.assert_rejected(spend_op_true(bare, 0, 50 * COIN, witness=[]), "bad-txns-nonstandard-inputs")
        self.assert_rejected(spend_op_true(cb[2], 0, 50 * COIN, witness=[b"x" * 81, bytes([0x51])]), "bad-witness-nonstandard")
        relative = spend_op_true(coinbase_txid(rpc, 100), 0, 50 * COIN, sequence=200)
        self.assert_rejected(relative, "non-BIP68-final")
        assert_raises_rpc_error(-8, "between 1 and 25", rpc.testmempoolaccept, [])
        assert_raises_rpc_error(-22, "TX decode failed", rpc.testmempoolaccept, ["00"])

        self.log("sendrawtransaction and the mempool RPCs")
        txid = rpc.sendrawtransaction(tx.hex())
        assert_equal(txid, tx.txid())
        assert_equal(rpc.sendrawtransaction(tx.hex()), txid)  # resending is harmless
        self.assert_rejected(tx, "txn-already-in-mempool")
        assert_equal(rpc.getrawmempool(), [txid])
        seq = rpc.getrawmempool(False, True)
        assert_equal(seq["txids"], [txid])
        info = rpc.getmempoolinfo()
        assert_equal((info["loaded"], info["size"], info["fullrbf"]), (True, 1, True))
        assert_equal(info["minrelaytxfee"], Decimal("0.00001000"))
        entry = rpc.getmempoolentry(txid)
        assert_equal(sorted(entry), sorted(["vsize", "weight", "time", "height", "descendantcount", "descendantsize",
                                            "ancestorcount", "ancestorsize", "wtxid", "fees", "depends", "spentby",
                                            "bip125-replaceable", "unbroadcast"]))
        assert_equal((entry["height"], entry["ancestorcount"], entry["fees"]["base"]), (200, 1, Decimal("0.00001000")))
        assert_equal(rpc.getrawmempool(True)[txid], entry)
        assert_equal(rpc.getrawtransaction(txid), tx.hex())
        assert_equal(rpc.getrawtransaction(txid, 1)["txid"], txid)
        assert_equal(rpc.gettxout(cb[1], 0), None)
        assert_equal(rpc.gettxout(cb[1], 0, False)["value"], Decimal("50.00000000"))
        assert_equal(rpc.gettxout(txid, 0)["confirmations"], 0)
        assert_raises_rpc_error(-5, "Transaction not in mempool", rpc.getmempoolentry, "22" * 32)
        assert_raises_rpc_error(-5, "No such mempool transaction", rpc.getrawtransaction, "22" * 32)
        assert_raises_rpc_error(-26, "min relay fee not met, 0 <", rpc.sendrawtransaction, spend_op_true(cb[3], 0, 50 * COIN, fee=0).hex())
        assert_raises_rpc_error(-25, "bad-txns-inputs-missingorspent", rpc.sendrawtransaction, spend_op_true("11" * 32, 0, COIN).hex())
        assert_raises_rpc_error(-25, "Fee exceeds maximum configured by user", rpc.sendrawtransaction, spend_op_true(cb[3], 0, 50 * COIN, fee=COIN).hex())
        assert_raises_rpc_error(-22, "TX decode failed", rpc.sendrawtransaction, "0000")
        burn = spend_op_true(cb[3], 0, 50 * COIN, outputs=[(49 * COIN, P2WSH_OP_TRUE), (1000, bytes.fromhex("6a0101"))])
        assert_raises_rpc_error(-25, "maxburnamount", rpc.sendrawtransaction, burn.hex())

        self.log("createrawtransaction builds the same unsigned transaction")
        raw = rpc.createrawtransaction([{"txid": cb[4], "vout": 0}], [{ADDR: Decimal("49.99")}])
        unsigned = Tx([(cb[4], 0, 0xffffffff, [])], [(4999 * COIN // 100, P2WSH_OP_TRUE)])
        assert_equal(raw, unsigned.hex())
        raw = rpc.createrawtransaction([{"txid": cb[4], "vout": 0}], {ADDR: 1, "data": "00ff"}, 5, True)
        dec = rpc.decoderawtransaction(raw)
        assert_equal((dec["locktime"], dec["vin"][0]["sequence"]), (5, 0xfffffffd))
        assert_equal(dec["vout"][1]["scriptPubKey"]["hex"], "6a0200ff")
        assert_raises_rpc_error(-5, "Invalid Bitcoin address: nope", rpc.createrawtransaction, [], {"nope": 1})
        assert_raises_rpc_error(-3, "Amount out of range", rpc.createrawtransaction, [], {ADDR: -1})
        assert_raises_rpc_error(-8, "missing vout key", rpc.createrawtransaction, [{"txid": cb[4]}], {})

        self.log("full RBF: a better replacement evicts, a worse one is refused")
        a = spend_op_true(cb[5], 0, 50 * COIN, fee=2000)
        rpc.sendrawtransaction(a.hex())
        low = spend_op_true(cb[5], 0, 50 * COIN, fee=1500)
        assert_raises_rpc_error(-26, "insufficient fee", rpc.sendrawtransaction, low.hex())
        small_bump = spend_op_true(cb[5], 0, 50 * COIN, fee=2050)
        assert_raises_rpc_error(-26, "not enough additional fees to relay", rpc.sendrawtransaction, small_bump.hex())
        b = spend_op_true(cb[5], 0, 50 * COIN, fee=5000)
        rpc.sendrawtransaction(b.hex())
        assert a.txid() not in rpc.getrawmempool()
        assert b.txid() in rpc.getrawmempool()
        # BIP125 rule 2: a replacement may not add unconfirmed inputs.
        unconfirmed = spend_op_true(cb[40], 0, 50 * COIN)
        rpc.sendrawtransaction(unconfirmed.hex())
        adds = Tx([(cb[5], 0, 0xffffffff, [OP_TRUE_SCRIPT]), (unconfirmed.txid(), 0, 0xffffffff, [OP_TRUE_SCRIPT])],
                  [(100 * COIN - 1000 - 50_000, P2WSH_OP_TRUE)])
        assert_raises_rpc_error(-26, f"replacement-adds-unconfirmed, replacement {adds.txid()} adds unconfirmed input, idx 1",
                                rpc.sendrawtransaction, adds.hex())

        self.log("ancestor and descendant bookkeeping, chain limit of 25")
        parent = spend_op_true(cb[6], 0, 50 * COIN, fee=1000)
        rpc.sendrawtransaction(parent.hex())
        chain = [parent]
        for i in range(23):
            nxt = spend_op_true(chain[-1].txid(), 0, 50 * COIN - 1000 * (i + 1), fee=1000)
            rpc.sendrawtransaction(nxt.hex())
            chain.append(nxt)
        assert_equal(len(rpc.getmempoolancestors(chain[-1].txid())), 23)
        assert_equal(len(rpc.getmempooldescendants(parent.txid())), 23)
        e = rpc.getmempoolentry(chain[1].txid())
        assert_equal((e["depends"], e["spentby"]), ([parent.txid()], [chain[2].txid()]))
        last = spend_op_true(chain[-1].txid(), 0, 50 * COIN - 24000, fee=1000)
        rpc.sendrawtransaction(last.hex())
        chain.append(last)
        too_long = spend_op_true(last.txid(), 0, 50 * COIN - 25000, fee=1000)
        assert_raises_rpc_error(-26, "too-long-mempool-chain", rpc.sendrawtransaction, too_long.hex())

        self.log("CPFP: a low-fee parent is mined with its high-fee child")
        cheap = spend_op_true(cb[7], 0, 50 * COIN, fee=200)
        assert_equal(self.tma(cheap)["allowed"], True)
        rpc.sendrawtransaction(cheap.hex())
        rich_child = spend_op_true(cheap.txid(), 0, 50 * COIN - 200, fee=100_000)
        rpc.sendrawtransaction(rich_child.hex())
        pool_before = set(rpc.getrawmempool())
        fees = sum(rpc.getmempoolentry(t)["fees"]["base"] for t in pool_before)
        block = rpc.getblock(rpc.generatetoaddress(1, ADDR)[0], 2)
        mined = {t["txid"] for t in block["tx"][1:]}
        assert_equal(mined, pool_before)
        assert_equal(rpc.getrawmempool(), [])
        assert_equal(block["tx"][0]["vout"][0]["value"], Decimal("25") + fees)
        assert_equal(rpc.getmininginfo()["pooledtx"], 0)
        assert_raises_rpc_error(-27, "already in utxo set", rpc.sendrawtransaction, rich_child.hex())
        assert_raises_rpc_error(-25, "bad-txns-inputs-missingorspent", rpc.sendrawtransaction, cheap.hex())
        assert_equal(rpc.getrawtransaction(cheap.txid(), True, block["hash"])["in_active_chain"], True)
        # A block spending its own outputs disconnects and reconnects cleanly in verifychain.
        assert_equal(rpc.verifychain(4, 0), True)

        self.log("a reorg returns disconnected transactions to the mempool")
        rpc.invalidateblock(block["hash"])
        assert_equal(set(rpc.getrawmempool()), pool_before)
        rpc.reconsiderblock(block["hash"])
        assert_equal(rpc.getrawmempool(), [])

        self.log("block assembly keeps within the block sigop limit")
        key = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
        bare_multisig = bytes.fromhex("5121" + key + "51ae")  # 20 legacy sigops = cost 80
        heavy = []
        for i in range(6):
            outs = [(1000, bare_multisig)] * 199
            t = spend_op_true(cb[20 + i], 0, 50 * COIN, outputs=outs + [(50 * COIN - 199_000 - 100_000, P2WSH_OP_TRUE)])
            rpc.sendrawtransaction(t.hex())
            heavy.append(t.txid())
        first = rpc.getblock(rpc.generatetoaddress(1, ADDR)[0])
        assert_equal(len(first["tx"]), 5)  # coinbase + 4 x 15920 sigop cost (+400 reserved) < 80000
        second = rpc.getblock(rpc.generatetoaddress(1, ADDR)[0])
        assert_equal(len(second["tx"]), 3)
        assert_equal(rpc.getrawmempool(), [])

        self.log("generateblock takes mempool txids")
        t = spend_op_true(cb[8], 0, 50 * COIN)
        rpc.sendrawtransaction(t.hex())
        h = rpc.generateblock(ADDR, [t.txid()])["hash"]
        assert_equal(rpc.getblock(h)["tx"][1], t.txid())
        assert_equal(rpc.getrawmempool(), [])
        node.stop()

        self.log("-minrelaytxfee raises the floor")
        node.start(["-minrelaytxfee=0.00005"])
        assert_equal(node.getmempoolinfo()["minrelaytxfee"], Decimal("0.00005000"))
        res = node.testmempoolaccept([spend_op_true(cb[9], 0, 50 * COIN, fee=200).hex()])[0]
        assert_equal(res["reject-reason"], "min relay fee not met")
        assert_equal(node.testmempoolaccept([spend_op_true(cb[9], 0, 50 * COIN, fee=2000).hex()])[0]["allowed"], True)
        node.stop()
        code, _, err = node.run_expect_failure(["-minrelaytxfee=abc"])
        assert_equal(code, 1)
        assert "Invalid amount for -minrelaytxfee" in err, err


if __name__ == "__main__":
    MempoolTest().main()
