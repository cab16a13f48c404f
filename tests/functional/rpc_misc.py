#!/usr/bin/env python3
"""preciousblock, verifychain, scantxoutset, getblocktemplate (template and proposal),
getdescriptorinfo, deriveaddresses, createmultisig, estimatesmartfee."""

from decimal import Decimal

from test_framework.messages import spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error, coinbase_txid

KEY1 = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
KEY2 = "03774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb"


class MiscTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc
        rpc.generatetoaddress(110, ADDR)

        self.log("preciousblock picks between equal-work tips")
        tip = rpc.getbestblockhash()
        rpc.invalidateblock(tip)
        other = rpc.generatetodescriptor(1, "raw(51)")[0]
        rpc.reconsiderblock(tip)
        # Equal work: the block received first wins (Core's nSequenceId), not the tip.
        assert_equal(rpc.getbestblockhash(), tip)
        rpc.preciousblock(other)
        assert_equal(rpc.getbestblockhash(), other)
        rpc.preciousblock(tip)
        assert_equal(rpc.getbestblockhash(), tip)
        rpc.preciousblock(other)
        assert_equal(rpc.getbestblockhash(), other)
        assert_raises_rpc_error(-5, "Block not found", rpc.preciousblock, "00" * 32)

        self.log("verifychain")
        assert_equal(rpc.verifychain(), True)
        assert_equal(rpc.verifychain(4, 0), True)
        assert_equal(rpc.verifychain(5), True)  # Core clamps the level to 4

        self.log("scantxoutset")
        res = rpc.scantxoutset("start", [f"addr({ADDR})"])
        assert_equal((res["success"], res["height"], len(res["unspents"])), (True, 110, 109))
        u = res["unspents"][0]
        assert_equal(sorted(u), sorted(["txid", "vout", "scriptPubKey", "desc", "amount", "coinbase", "height", "blockhash", "confirmations"]))
        assert_equal(res["total_amount"], sum(x["amount"] for x in res["unspents"]))
        res = rpc.scantxoutset("start", [{"desc": "raw(51)"}])
        assert_equal(len(res["unspents"]), 1)
        assert_equal(res["unspents"][0]["amount"], Decimal("50.00000000"))
        assert_equal(rpc.scantxoutset("abort"), False)
        assert_equal(rpc.scantxoutset("status"), None)
        assert_raises_rpc_error(-8, "Invalid action", rpc.scantxoutset, "bogus")

        self.log("getblocktemplate")
        assert_raises_rpc_error(-8, "segwit rule set", rpc.getblocktemplate)
        cb = coinbase_txid(rpc, 1)
        tx = spend_op_true(cb, 0, 50 * 100_000_000, fee=5000)
        rpc.sendrawtransaction(tx.hex())
        child = spend_op_true(tx.txid(), 0, 50 * 100_000_000 - 5000, fee=5000)
        rpc.sendrawtransaction(child.hex())
        t = rpc.getblocktemplate({"rules": ["segwit"]})
        assert_equal((t["height"], t["previousblockhash"], t["bits"]), (111, rpc.getbestblockhash(), "207fffff"))
        assert_equal(t["coinbasevalue"], 50 * 100_000_000 + 10_000)
        assert_equal([x["txid"] for x in t["transactions"]], [tx.txid(), child.txid()])
        assert_equal(t["transactions"][1]["depends"], [1])
        assert_equal(t["transactions"][0]["fee"], 5000)
        assert t["default_witness_commitment"].startswith("6a24aa21a9ed")
        assert_equal(t["target"], "7fffff" + "0" * 58)
        assert_equal((t["version"], t["vbavailable"]), (0x20000000, {}))  # period 0: not signalling
        self.log("proposal mode")
        good = rpc.generateblock(ADDR, [tx.txid()], False)["hex"]
        assert_equal(rpc.getblocktemplate({"mode": "proposal", "data": good}), None)
        assert_equal(rpc.getblocktemplate({"mode": "proposal", "data": rpc.getblock(rpc.getblockhash(5), 0)}), "duplicate")
        assert_raises_rpc_error(-22, "Block decode failed", rpc.getblocktemplate, {"mode": "proposal", "data": "00"})
        rpc.generatetoaddress(1, ADDR)
        assert_equal(rpc.getblocktemplate({"mode": "proposal", "data": good}), "inconclusive-not-best-prevblk")

        self.log("descriptor utilities")
        info = rpc.getdescriptorinfo(f"wpkh({KEY1})")
        assert_equal((info["isrange"], info["issolvable"], info["hasprivatekeys"]), (False, True, False))
        assert_equal(info["descriptor"], f"wpkh({KEY1})#{info['checksum']}")
        assert_equal(rpc.getdescriptorinfo("raw(51)")["issolvable"], False)
        assert_raises_rpc_error(-5, "not a valid descriptor function", rpc.getdescriptorinfo, "foo(1)")
        addrs = rpc.deriveaddresses(info["descriptor"])
        assert_equal(rpc.validateaddress(addrs[0])["witness_version"], 0)
        assert_raises_rpc_error(-5, "Missing checksum", rpc.deriveaddresses, f"wpkh({KEY1})")
        assert_raises_rpc_error(-8, "Range should not be specified", rpc.deriveaddresses, info["descriptor"], 2)
        wsh = self.nodes[0].rpc.getdescriptorinfo(f"wsh(sortedmulti(1,{KEY2},{KEY1}))")
        assert_equal(rpc.deriveaddresses(wsh["descriptor"]), [rpc.createmultisig(1, [KEY1, KEY2], "bech32")["address"]])
        assert_raises_rpc_error(-5, "Can only have sh() at top level", rpc.getdescriptorinfo, f"wsh(sh(pk({KEY1})))")
        ms = rpc.createmultisig(1, [KEY1, KEY2])
        assert_equal(sorted(ms), ["address", "descriptor", "redeemScript"])
        assert_equal(ms["redeemScript"], f"5121{KEY1}21{KEY2}52ae")
        assert ms["descriptor"].startswith(f"sh(multi(1,{KEY1},{KEY2}))#")
        assert_equal(rpc.decodescript(ms["redeemScript"])["p2sh"], ms["address"])
        assert rpc.createmultisig(2, [KEY1, KEY2], "bech32")["address"].startswith("bcrt1q")
        assert_raises_rpc_error(-8, "not enough keys supplied", rpc.createmultisig, 3, [KEY1, KEY2])
        assert_raises_rpc_error(-5, "Invalid public key", rpc.createmultisig, 1, ["00"])

        self.log("estimatesmartfee without data")
        assert_equal(rpc.estimatesmartfee(6), {"errors": ["Insufficient data or no feerate found"], "blocks": 0})
        assert_raises_rpc_error(-8, "Invalid conf_target", rpc.estimatesmartfee, 0)
        assert_raises_rpc_error(-8, "Invalid estimate_mode", rpc.estimatesmartfee, 2, "fast")
        assert_equal(rpc.syncwithvalidationinterfacequeue(), None)
        node.stop()


if __name__ == "__main__":
    MiscTest().main()
