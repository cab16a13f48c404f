#!/usr/bin/env python3
"""Wallet spending and tracking: fundrawtransaction, signrawtransactionwithwallet,
walletcreatefundedpsbt/walletprocesspsbt, send, bumpfee (RBF), replacement, conflicts and
abandontransaction, reorgs (invalidateblock/reconsiderblock) with coinbase maturity,
listsinceblock, importdescriptors/listdescriptors (watch-only and restore from
descriptors), rescanblockchain."""

from decimal import Decimal

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal, assert_raises_rpc_error, ADDRESS_BCRT1_P2WSH_OP_TRUE as BURN

WALLET_ARGS = ["-fallbackfee=0.0002", "-keypool=100"]


class WalletSendTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start(WALLET_ARGS)
        rpc = node.rpc
        rpc.createwallet("w")
        rpc.createwallet("r")
        w = node.get_wallet_rpc("w")
        r = node.get_wallet_rpc("r")
        rpc.generatetoaddress(3, w.getnewaddress())
        rpc.generatetoaddress(100, BURN)
        assert_equal(w.getbalance(), Decimal(150))

        self.log("fundrawtransaction + signrawtransactionwithwallet + sendrawtransaction")
        dest = r.getnewaddress()
        raw = rpc.createrawtransaction([], {dest: 7})
        funded = w.fundrawtransaction(raw)
        assert funded["fee"] > 0
        assert funded["changepos"] in (0, 1)
        dec = rpc.decoderawtransaction(funded["hex"])
        assert_equal(len(dec["vout"]), 2)
        unsigned = w.signrawtransactionwithwallet(funded["hex"])
        assert_equal(unsigned["complete"], True)
        txid = rpc.sendrawtransaction(unsigned["hex"])
        # Core's sendrawtransaction waits for the wallets to hear of it; here the test does.
        rpc.syncwithvalidationinterfacequeue()
        assert_equal(r.getbalances()["mine"]["untrusted_pending"], Decimal(7))
        assert_raises_rpc_error(-4, "Insufficient funds", w.fundrawtransaction, rpc.createrawtransaction([], {dest: 1000}))
        assert_raises_rpc_error(-22, "TX decode failed", w.fundrawtransaction, "zz")
        f2 = w.fundrawtransaction(raw, {"fee_rate": 3, "changePosition": 0, "subtractFeeFromOutputs": [0]})
        d2 = rpc.decoderawtransaction(f2["hex"])
        assert_equal(f2["changepos"], 0)
        assert_equal(d2["vout"][1]["value"], Decimal(7) - f2["fee"])
        assert_raises_rpc_error(-8, "Cannot specify both conf_target and fee_rate", w.fundrawtransaction, raw, {"fee_rate": 3, "conf_target": 2})
        # A transaction with an input the wallet cannot sign stays incomplete.
        foreign = rpc.createrawtransaction([{"txid": "aa" * 32, "vout": 0}], {dest: 1})
        res = r.signrawtransactionwithwallet(foreign)
        assert_equal(res["complete"], False)
        assert_equal(res["errors"][0]["txid"], "aa" * 32)

        self.log("walletcreatefundedpsbt + walletprocesspsbt")
        p = w.walletcreatefundedpsbt([], [{r.getnewaddress("", "bech32m"): 2}], 0, {"fee_rate": 2})
        assert p["fee"] > 0
        unsigned = w.walletprocesspsbt(p["psbt"], False)
        assert_equal(unsigned["complete"], False)
        signed = w.walletprocesspsbt(p["psbt"])
        assert_equal(signed["complete"], True)
        ptxid = rpc.sendrawtransaction(signed["hex"])
        assert ptxid in rpc.getrawmempool()
        assert_raises_rpc_error(-22, "TX decode failed", w.walletprocesspsbt, "notbase64!")

        self.log("send: committed, or returned unsent with add_to_wallet=false")
        res = w.send({r.getnewaddress(): 1})
        assert_equal(res["complete"], True)
        assert res["txid"] in rpc.getrawmempool()
        res = w.send(outputs=[{r.getnewaddress(): 1}], fee_rate=5, options={"add_to_wallet": False})
        assert_equal(res["complete"], True)
        assert res["txid"] not in rpc.getrawmempool()
        assert "hex" in res
        rpc.generatetoaddress(1, BURN)
        assert_equal(r.getbalance(), Decimal(10))

        self.log("bumpfee: replacement with a higher fee; the original is marked replaced")
        t1 = w.sendtoaddress(r.getnewaddress(), 1)
        fee1 = w.gettransaction(t1)["fee"]
        bumped = w.bumpfee(t1)
        assert_equal(bumped["origfee"], -fee1)
        assert bumped["fee"] > bumped["origfee"]
        mempool = rpc.getrawmempool()
        assert bumped["txid"] in mempool and t1 not in mempool
        assert_equal(w.gettransaction(t1)["replaced_by_txid"], bumped["txid"])
        assert_equal(w.gettransaction(bumped["txid"])["replaces_txid"], t1)
        assert_raises_rpc_error(-4, "already bumped by transaction", w.bumpfee, t1)
        assert_raises_rpc_error(-8, "Insufficient total fee", w.bumpfee, bumped["txid"], {"fee_rate": 1})
        b2 = w.bumpfee(bumped["txid"], {"fee_rate": 60})
        assert b2["txid"] in rpc.getrawmempool()
        t_norbf = w.sendtoaddress(r.getnewaddress(), 1, "", "", False, False)
        assert_raises_rpc_error(-4, "Transaction is not BIP 125 replaceable", w.bumpfee, t_norbf)
        assert_raises_rpc_error(-5, "Invalid or non-wallet transaction id", w.bumpfee, "00" * 32)
        rpc.generatetoaddress(1, BURN)
        assert_raises_rpc_error(-4, "Transaction has been mined, or is conflicted with a mined transaction", w.bumpfee, t_norbf)
        # The replaced transactions are conflicted now: negative depth, not spent, not counted.
        assert_equal(w.gettransaction(t1)["confirmations"], -1)
        assert_equal(sorted(w.gettransaction(t1)["walletconflicts"]), sorted([bumped["txid"], b2["txid"]]))

        self.log("abandontransaction on a replaced transaction frees its inputs")
        t2 = w.sendtoaddress(r.getnewaddress(), 2)
        bal_before = w.getbalance()
        rb = w.bumpfee(t2)
        # Knock the replacement out of the mempool with a reorg-free trick: replace it from
        # outside is not possible, so abandon the original (out of the mempool now).
        w.abandontransaction(t2)
        assert_equal(w.gettransaction(t2)["details"][0]["abandoned"], True)
        assert_raises_rpc_error(-5, "Transaction not eligible for abandonment", w.abandontransaction, rb["txid"])
        assert w.getbalance() < bal_before
        rpc.generatetoaddress(1, BURN)

        self.log("reorg: invalidateblock returns a confirmed payment to unconfirmed")
        t3 = w.sendtoaddress(r.getnewaddress(), 3)
        h = rpc.generatetoaddress(1, BURN)[0]
        assert_equal(r.gettransaction(t3)["confirmations"], 1)
        since = w.listsinceblock(h)
        assert_equal(since["transactions"], [])
        assert_equal(since["lastblock"], h)
        r_trusted = r.getbalances()["mine"]["trusted"]
        rpc.invalidateblock(h)
        assert_equal(r.gettransaction(t3)["confirmations"], 0)
        # As in Core, the resurrected transaction's mempool notification may trail the tip.
        rpc.syncwithvalidationinterfacequeue()
        assert_equal(r.getbalances()["mine"]["trusted"], r_trusted - 3)
        assert_equal(r.getbalances()["mine"]["untrusted_pending"], Decimal(3))
        assert t3 in rpc.getrawmempool()
        h2 = rpc.generatetoaddress(1, BURN)[0]
        lsb = r.listsinceblock(h)
        assert_equal(lsb["lastblock"], h2)
        assert t3 in [t["txid"] for t in lsb["removed"]]
        assert t3 in [t["txid"] for t in lsb["transactions"]]
        assert_raises_rpc_error(-5, "Block not found", r.listsinceblock, "11" * 32)
        assert_equal(r.gettransaction(t3)["blockhash"], h2)
        rpc.reconsiderblock(h)  # same length: the current chain stays
        assert_equal(r.gettransaction(t3)["confirmations"], 1)

        self.log("reorg across coinbase maturity")
        cb_addr = w.getnewaddress()
        rpc.generatetoaddress(1, cb_addr)
        hs = rpc.generatetoaddress(100, BURN)
        imm = w.getbalances()["mine"]["immature"]
        assert_equal(imm, Decimal(0))
        rpc.invalidateblock(hs[-1])
        assert_equal(w.getbalances()["mine"]["immature"], Decimal(50))
        rpc.reconsiderblock(hs[-1])
        assert_equal(w.getbalances()["mine"]["immature"], Decimal(0))
        assert_equal(w.getreceivedbyaddress(cb_addr), Decimal(50))

        self.log("listdescriptors and importdescriptors: watch-only and restore from descriptors")
        descs = w.listdescriptors()
        assert_equal(descs["wallet_name"], "w")
        assert_equal(len(descs["descriptors"]), 8)
        d0 = descs["descriptors"][0]
        assert "range" in d0 and "next_index" in d0 and "internal" in d0
        priv = w.listdescriptors(True)["descriptors"]
        assert all("prv" in d["desc"] for d in priv)
        rpc.createwallet(wallet_name="watch", disable_private_keys=True)
        watch = node.get_wallet_rpc("watch")
        assert_equal(watch.getwalletinfo()["private_keys_enabled"], False)
        assert_raises_rpc_error(-4, "Error: This wallet has no available keys", watch.getnewaddress)
        wpkh_ext = [d for d in descs["descriptors"] if d["desc"].startswith("wpkh(") and not d["internal"]][0]
        res = watch.importdescriptors([
            {"desc": wpkh_ext["desc"], "timestamp": 0, "range": [0, 20], "active": True},
            {"desc": "wpkh(tpubD6NzVbkYGN)", "timestamp": "now"},
            {"desc": wpkh_ext["desc"].split("#")[0], "timestamp": "now"},
            {"desc": priv[0]["desc"], "timestamp": "now"},
        ])
        assert_equal(res[0]["success"], True)
        assert_equal([x["success"] for x in res[1:]], [False, False, False])
        assert_equal(res[2]["error"]["message"], "Missing checksum")
        assert_equal(res[3]["error"]["code"], -4)
        assert watch.getbalances()["mine"]["trusted"] > 0
        assert_equal(watch.getreceivedbyaddress(cb_addr), Decimal(50))
        # Restore: a blank wallet importing every private descriptor sees the same funds.
        rpc.createwallet(wallet_name="restored", blank=True)
        restored = node.get_wallet_rpc("restored")
        reqs = [{"desc": d["desc"], "timestamp": 0, "active": d["active"], "internal": d["internal"],
                 "range": d["range"], "next_index": d["next_index"]} for d in priv]
        assert all(x["success"] for x in restored.importdescriptors(reqs))
        assert_equal(restored.getbalances()["mine"], w.getbalances()["mine"])
        assert_equal(restored.getnewaddress(), w.getnewaddress())
        bad = restored.importdescriptors([{"desc": rpc.getdescriptorinfo("addr(%s)" % BURN)["descriptor"], "timestamp": "now", "active": True}])
        assert_equal(bad[0]["error"], {"code": -8, "message": "Active descriptors must be ranged"})
        big = watch.importdescriptors([{"desc": wpkh_ext["desc"], "timestamp": "now", "range": [0, 2000000]}])
        assert_equal(big[0]["error"], {"code": -8, "message": "Range is too large"})

        self.log("rescanblockchain")
        height = rpc.getblockcount()
        assert_equal(watch.rescanblockchain(), {"start_height": 0, "stop_height": height})
        assert_equal(watch.rescanblockchain(100, 110), {"start_height": 100, "stop_height": 110})
        assert_raises_rpc_error(-8, "Invalid start_height", watch.rescanblockchain, height + 1)
        assert_raises_rpc_error(-8, "stop_height must be greater than start_height", watch.rescanblockchain, 10, 5)
        assert_equal(watch.abortrescan(), False)
        node.stop()


if __name__ == "__main__":
    WalletSendTest().main()
