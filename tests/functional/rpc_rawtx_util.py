#!/usr/bin/env python3
"""decoderawtransaction, decodescript and validateaddress result shapes."""

from decimal import Decimal

from test_framework.messages import P2WSH_OP_TRUE, Tx
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error

PKH_SCRIPT = "76a914" + "11" * 20 + "88ac"
PUBKEY = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"


class RawTxUtilTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc

        self.log("decoderawtransaction")
        tx = Tx([("ab" * 32, 3, 0xfffffffd, [b"\x51"])],
                [(123_456_789, P2WSH_OP_TRUE), (0, bytes.fromhex("6a0401020304")), (5, bytes.fromhex(PKH_SCRIPT))],
                locktime=77)
        d = rpc.decoderawtransaction(tx.hex())
        assert_equal(list(d), ["txid", "hash", "version", "size", "vsize", "weight", "locktime", "vin", "vout"])
        assert_equal((d["txid"], d["version"], d["locktime"]), (tx.txid(), 2, 77))
        assert d["hash"] != d["txid"], "wtxid differs when there is a witness"
        assert_equal(d["vin"][0], {"txid": "ab" * 32, "vout": 3, "scriptSig": {"asm": "", "hex": ""},
                                   "txinwitness": ["51"], "sequence": 0xfffffffd})
        out0 = d["vout"][0]
        assert_equal((out0["value"], out0["n"]), (Decimal("1.23456789"), 0))
        assert_equal(list(out0["scriptPubKey"]), ["asm", "desc", "hex", "address", "type"])
        assert_equal(out0["scriptPubKey"]["address"], ADDR)
        assert out0["scriptPubKey"]["desc"].startswith(f"addr({ADDR})#")
        assert_equal(d["vout"][1]["scriptPubKey"]["type"], "nulldata")
        assert_equal(d["vout"][1]["scriptPubKey"]["asm"], "OP_RETURN 67305985")
        assert_equal(d["vout"][2]["scriptPubKey"]["asm"], "OP_DUP OP_HASH160 " + "11" * 20 + " OP_EQUALVERIFY OP_CHECKSIG")
        assert_equal(d["vout"][2]["scriptPubKey"]["type"], "pubkeyhash")
        assert_raises_rpc_error(-22, "TX decode failed", rpc.decoderawtransaction, "zz")
        assert_raises_rpc_error(-22, "TX decode failed", rpc.decoderawtransaction, tx.hex() + "00")

        self.log("decodescript")
        ds = rpc.decodescript(PKH_SCRIPT)
        assert_equal(list(ds), ["asm", "desc", "address", "type", "p2sh", "segwit"])
        assert_equal(ds["type"], "pubkeyhash")
        assert_equal(ds["segwit"]["type"], "witness_v0_keyhash")
        assert_equal(ds["segwit"]["hex"], "0014" + "11" * 20)
        assert "p2sh-segwit" in ds["segwit"]
        ds = rpc.decodescript("51")
        assert_equal((ds["asm"], ds["type"]), ("1", "nonstandard"))
        assert_equal(ds["segwit"]["address"], ADDR)
        ds = rpc.decodescript("21" + PUBKEY + "ac")
        assert_equal(ds["type"], "pubkey")
        assert_equal(ds["desc"].split("#")[0], f"pk({PUBKEY})")
        ds = rpc.decodescript(P2WSH_OP_TRUE.hex())
        assert_equal(ds["type"], "witness_v0_scripthash")
        assert "p2sh" in ds and "segwit" not in ds, "segwit v0 can be P2SH-wrapped, not re-wrapped"
        ds = rpc.decodescript("5121" + PUBKEY + "51ae")
        assert_equal(ds["type"], "multisig")
        assert_equal(ds["asm"], f"1 {PUBKEY} 1 OP_CHECKMULTISIG")
        assert_equal(rpc.decodescript("")["type"], "nonstandard")
        assert_raises_rpc_error(-8, None, rpc.decodescript, "0")

        self.log("validateaddress")
        v = rpc.validateaddress(ADDR)
        assert_equal(v, {"isvalid": True, "address": ADDR, "scriptPubKey": P2WSH_OP_TRUE.hex(), "isscript": True,
                         "iswitness": True, "witness_version": 0, "witness_program": P2WSH_OP_TRUE.hex()[4:]})
        v = rpc.validateaddress("mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j")
        assert_equal((v["isvalid"], v["isscript"], v["iswitness"]), (True, False, False))
        v = rpc.validateaddress("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
        assert_equal(v["isvalid"], False)
        assert "expected bcrt, got bc" in v["error"], v
        v = rpc.validateaddress("notanaddress")
        assert_equal((v["isvalid"], v["error_locations"]), (False, []))
        node.stop()


if __name__ == "__main__":
    RawTxUtilTest().main()
