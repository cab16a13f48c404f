#!/usr/bin/env python3
"""signrawtransactionwithkey for P2WPKH, P2PKH, P2SH-P2WPKH, P2PK and 2-of-2 P2WSH
multisig; missing keys, unknown inputs and bad keys; signed transactions are accepted."""

from decimal import Decimal

from test_framework.key import pubkey_hex, wif
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error, coinbase_txid
from test_framework.messages import spend_op_true


class SignTest(HashviveTestFramework):
    def desc(self, d):
        return self.rpc.getdescriptorinfo(d)["descriptor"]

    def coinbase_of(self, blockhash):
        return self.rpc.getblock(blockhash, 2)["tx"][0]["txid"]

    def spend(self, txid, wifs, amount="49.999", prevtxs=None):
        raw = self.rpc.createrawtransaction([{"txid": txid, "vout": 0}], [{ADDR: Decimal(amount)}])
        if prevtxs is None:
            return self.rpc.signrawtransactionwithkey(raw, wifs)
        return self.rpc.signrawtransactionwithkey(raw, wifs, prevtxs)

    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = self.rpc = node.rpc
        k1, k2, k3 = 0x1111, 0x2222, 0x3333
        pk1, pk2 = pubkey_hex(k1), pubkey_hex(k2)
        assert_equal(pk1[:2] in ("02", "03"), True)

        self.log("mine to descriptors of our keys")
        blocks = {}
        for kind in ("wpkh", "pkh", "sh(wpkh", "pk"):
            d = f"sh(wpkh({pk1}))" if kind == "sh(wpkh" else f"{kind}({pk1})"
            blocks[kind] = rpc.generatetodescriptor(1, self.desc(d))[0]
        rpc.generatetoaddress(101, ADDR)

        for kind, h in blocks.items():
            self.log(f"sign {kind}")
            res = self.spend(self.coinbase_of(h), [wif(k1)])
            assert_equal(list(res), ["hex", "complete"])
            assert_equal(res["complete"], True)
            assert_equal(rpc.testmempoolaccept([res["hex"]])[0]["allowed"], True)
            rpc.sendrawtransaction(res["hex"])

        self.log("a block with all of them connects")
        rpc.generatetoaddress(1, ADDR)
        assert_equal(rpc.getrawmempool(), [])

        self.log("missing key, unknown input, bad key, bad sighash type")
        cb = self.coinbase_of(rpc.getblockhash(5))
        res = self.spend(cb, [wif(k2)])
        assert_equal(res["complete"], False)
        assert_equal(res["errors"][0]["error"], "Unable to sign input, invalid stack size (possibly missing key)")
        assert_equal(sorted(res["errors"][0]), ["error", "scriptSig", "sequence", "txid", "vout", "witness"])
        res = self.spend("ab" * 32, [wif(k1)])
        assert_equal(res["errors"][0]["error"], "Input not found or already spent")
        assert_raises_rpc_error(-5, "Invalid private key", self.spend, cb, ["notakey"])
        raw = rpc.createrawtransaction([{"txid": cb, "vout": 0}], [{ADDR: 1}])
        assert_raises_rpc_error(-8, "is not a valid sighash parameter", rpc.signrawtransactionwithkey, raw, [wif(k1)], [], "BOGUS")

        self.log("2-of-2 P2WSH multisig, signed in two steps with prevtxs")
        ms = rpc.createmultisig(2, [pk1, pk2], "bech32")
        ms_spk = rpc.validateaddress(ms["address"])["scriptPubKey"]
        fund_cb = coinbase_txid(rpc, 6)
        fund = spend_op_true(fund_cb, 0, 50 * 100_000_000, outputs=[(50 * 100_000_000 - 10_000, bytes.fromhex(ms_spk))])
        rpc.sendrawtransaction(fund.hex())
        prev = [{"txid": fund.txid(), "vout": 0, "scriptPubKey": ms_spk, "witnessScript": ms["redeemScript"], "amount": Decimal("49.9999")}]
        half = self.spend(fund.txid(), [wif(k1)], "49.999", prev)
        assert_equal(half["complete"], False)
        assert "need more signatures" in half["errors"][0]["error"]
        full = self.spend(fund.txid(), [wif(k1), wif(k2)], "49.999", prev)
        assert_equal(full["complete"], True)
        assert_equal(rpc.testmempoolaccept([full["hex"]])[0]["allowed"], True)
        wrong = self.spend(fund.txid(), [wif(k1), wif(k3)], "49.999", prev)
        assert_equal(wrong["complete"], False)

        self.log("combinerawtransaction merges the halves each key signed")
        other_half = self.spend(fund.txid(), [wif(k2)], "49.999", prev)
        assert_equal(other_half["complete"], False)
        combined = rpc.combinerawtransaction([half["hex"], other_half["hex"]])
        assert_equal(combined, full["hex"])
        assert_equal(rpc.testmempoolaccept([combined])[0]["allowed"], True)
        assert_equal(rpc.combinerawtransaction([full["hex"], half["hex"]]), full["hex"])
        assert_raises_rpc_error(-22, "Missing transactions", rpc.combinerawtransaction, [])
        assert_raises_rpc_error(-22, "TX decode failed for tx 1", rpc.combinerawtransaction, [full["hex"], "00"])
        unknown = rpc.createrawtransaction([{"txid": "ab" * 32, "vout": 0}], [{ADDR: 1}])
        assert_raises_rpc_error(-25, "Input not found or already spent", rpc.combinerawtransaction, [unknown])
        node.stop()


if __name__ == "__main__":
    SignTest().main()
