#!/usr/bin/env python3
"""signrawtransactionwithwallet beyond the wallet's own transactions: `prevtxs` describes
outputs the wallet has no transaction for (Core's errors when an entry is wrong or an
amount is missing), and every sighash type signs a transaction the mempool takes."""

from decimal import Decimal

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal, assert_raises_rpc_error, ADDRESS_BCRT1_P2WSH_OP_TRUE as BURN


class WalletSignRawTransactionTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start(["-fallbackfee=0.0002"])
        rpc = node.rpc
        rpc.createwallet("src")
        src = node.get_wallet_rpc("src")
        rpc.generatetoaddress(1, src.getnewaddress())
        rpc.generatetoaddress(100, BURN)

        self.log("an output the wallet has keys for but never saw")
        rpc.createwallet("keys")
        keys = node.get_wallet_rpc("keys")
        address = keys.getnewaddress("", "bech32")
        txid = src.sendtoaddress(address, 1)
        rpc.generatetoaddress(1, BURN)
        tx = src.gettransaction(txid, False, True)["decoded"]
        vout = next(o["n"] for o in tx["vout"] if o["scriptPubKey"].get("address") == address)
        spk = tx["vout"][vout]["scriptPubKey"]["hex"]
        desc = next(d["desc"] for d in keys.listdescriptors(True)["descriptors"]
                    if d["desc"].startswith("wpkh(") and not d["internal"])
        # Imported with timestamp "now": no rescan, so the funding transaction stays unknown.
        rpc.createwallet("signer", False, True)
        signer = node.get_wallet_rpc("signer")
        res = signer.importdescriptors([{"desc": desc, "timestamp": "now", "range": [0, 5]}])
        assert_equal(res[0]["success"], True)
        assert_equal(signer.listunspent(), [])
        raw = rpc.createrawtransaction([{"txid": txid, "vout": vout}], {BURN: Decimal("0.9999")})

        res = signer.signrawtransactionwithwallet(raw)
        assert_equal(res["complete"], False)
        assert_equal(res["errors"][0]["txid"], txid)

        prevtx = {"txid": txid, "vout": vout, "scriptPubKey": spk}
        res = signer.signrawtransactionwithwallet(raw, [prevtx])
        assert_equal(res["complete"], False)
        assert_equal(res["errors"][0]["error"], "Missing amount")

        res = signer.signrawtransactionwithwallet(raw, [dict(prevtx, amount=1)])
        assert_equal(res["complete"], True)
        assert_equal(rpc.testmempoolaccept([res["hex"]])[0]["allowed"], True)
        # A wrong amount signs, but the signature commits to it: the network refuses it.
        res = signer.signrawtransactionwithwallet(raw, [dict(prevtx, amount=2)])
        assert_equal(res["complete"], True)
        assert_equal(rpc.testmempoolaccept([res["hex"]])[0]["allowed"], False)

        self.log("prevtxs errors, as Core gives them")
        assert_raises_rpc_error(-3, "Missing txid", signer.signrawtransactionwithwallet, raw, [{"vout": 0, "scriptPubKey": spk}])
        assert_raises_rpc_error(-3, "Missing vout", signer.signrawtransactionwithwallet, raw, [{"txid": txid, "scriptPubKey": spk}])
        assert_raises_rpc_error(-3, "Missing scriptPubKey", signer.signrawtransactionwithwallet, raw, [{"txid": txid, "vout": vout}])
        assert_raises_rpc_error(-22, "vout cannot be negative", signer.signrawtransactionwithwallet, raw, [dict(prevtx, vout=-1)])
        assert_raises_rpc_error(-8, "txid must be of length 64", signer.signrawtransactionwithwallet, raw, [dict(prevtx, txid="ab")])
        # The source wallet knows the output: a different script is refused.
        raw_src = rpc.createrawtransaction([{"txid": txid, "vout": vout}], {BURN: Decimal("0.9999")})
        assert_raises_rpc_error(-22, "Previous output scriptPubKey mismatch", src.signrawtransactionwithwallet, raw_src, [dict(prevtx, scriptPubKey="51", amount=1)])

        self.log("every sighash type signs a transaction the mempool takes")
        dest = src.getnewaddress()
        for sighash in ["ALL", "NONE", "SINGLE", "ALL|ANYONECANPAY", "NONE|ANYONECANPAY", "SINGLE|ANYONECANPAY"]:
            funded = src.fundrawtransaction(rpc.createrawtransaction([], {dest: 1}), {"changePosition": 1})
            res = src.signrawtransactionwithwallet(funded["hex"], None, sighash)
            assert_equal(res["complete"], True)
            assert_equal(rpc.testmempoolaccept([res["hex"]])[0]["allowed"], True)
            decoded = rpc.decoderawtransaction(res["hex"])
            flag = {"ALL": 1, "NONE": 2, "SINGLE": 3}[sighash.split("|")[0]] | (0x80 if "ANYONECANPAY" in sighash else 0)
            for vin in decoded["vin"]:
                signature = vin["txinwitness"][0]
                assert_equal(int(signature[-2:], 16), flag)
        assert_raises_rpc_error(-8, "is not a valid sighash parameter", src.signrawtransactionwithwallet, raw, None, "ALL|EVERYTHING")


if __name__ == "__main__":
    WalletSignRawTransactionTest().main()
