#!/usr/bin/env python3
"""Mining and chain RPCs: generatetoaddress/-descriptor/generateblock, result shapes of
the blockchain RPCs, subsidy halving, transaction validation through generateblock and
submitblock (maturity, double spends, scripts, amounts, locktime)."""

import threading
from decimal import Decimal

from test_framework.messages import P2WSH_OP_TRUE, spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error

GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
HEADER_KEYS = ["hash", "confirmations", "height", "version", "versionHex", "merkleroot", "time", "mediantime",
               "nonce", "bits", "difficulty", "chainwork", "nTx"]


class MiningTest(HashviveTestFramework):
    def coinbase(self, height):
        block = self.rpc.getblock(self.rpc.getblockhash(height), 2)
        cb = block["tx"][0]
        return cb["txid"], int(cb["vout"][0]["value"] * 100_000_000)

    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = self.rpc = node.rpc

        self.log("genesis and chain info shapes")
        assert_equal(rpc.getblockhash(0), GENESIS)
        info = rpc.getblockchaininfo()
        assert_equal(sorted(info), sorted(["chain", "blocks", "headers", "bestblockhash", "difficulty", "time",
                                           "mediantime", "verificationprogress", "initialblockdownload",
                                           "chainwork", "size_on_disk", "pruned", "warnings"]))
        assert_equal((info["chain"], info["blocks"], info["initialblockdownload"]), ("regtest", 0, True))
        assert_equal(rpc.getdifficulty(), Decimal("4.656542373906925E-10"))

        self.log("generatetoaddress and generatetodescriptor")
        hashes = rpc.generatetoaddress(101, ADDR)
        assert_equal(len(hashes), 101)
        assert_equal(rpc.getbestblockhash(), hashes[-1])
        assert_equal(rpc.getblockcount(), 101)
        assert_equal(rpc.getblockchaininfo()["initialblockdownload"], False)
        desc_hashes = rpc.generatetodescriptor(2, "raw(51)")
        assert_equal(rpc.getblock(desc_hashes[0], 2)["tx"][0]["vout"][0]["scriptPubKey"]["hex"], "51")
        assert_equal(len(rpc.generatetodescriptor(1, "addr(%s)" % ADDR)), 1)
        assert_raises_rpc_error(-5, "does not match computed checksum", rpc.generatetodescriptor, 1, "raw(51)#00000000")
        assert_raises_rpc_error(-5, "is not a valid descriptor function", rpc.generatetodescriptor, 1, "bogus(51)")
        assert_equal(rpc.generatetoaddress(0, ADDR), [])
        assert_equal(rpc.generatetoaddress(1, ADDR, 0), [])

        self.log("getblock verbosities and getblockheader")
        tip = rpc.getbestblockhash()
        b1 = rpc.getblock(tip)
        for k in HEADER_KEYS + ["previousblockhash", "strippedsize", "size", "weight", "tx"]:
            assert k in b1, k
        assert "nextblockhash" not in b1
        assert_equal((b1["height"], b1["confirmations"], b1["versionHex"], b1["bits"]), (104, 1, "20000000", "207fffff"))
        assert_equal(b1["chainwork"], "%064x" % (2 * 105))
        assert_equal(rpc.getblock(rpc.getblockhash(103))["nextblockhash"], tip)
        raw = rpc.getblock(tip, 0)
        assert_equal(rpc.getblock(tip, False), raw)
        b2 = rpc.getblock(tip, 2)
        cb = b2["tx"][0]
        assert_equal(sorted(cb), sorted(["txid", "hash", "version", "size", "vsize", "weight", "locktime", "vin", "vout", "hex"]))
        # BIP34: push of the height (104 = 0x68), then OP_0, as Core's miner writes it.
        assert_equal(cb["vin"][0]["coinbase"], "016800")
        assert_equal(cb["vout"][1]["scriptPubKey"]["type"], "nulldata")
        assert cb["vout"][1]["scriptPubKey"]["hex"].startswith("6a24aa21a9ed"), "witness commitment"
        assert_equal(cb["vout"][0]["scriptPubKey"]["address"], ADDR)
        assert_equal(cb["vout"][0]["scriptPubKey"]["type"], "witness_v0_scripthash")
        hdr = rpc.getblockheader(tip)
        assert_equal(sorted(hdr), sorted(HEADER_KEYS + ["previousblockhash"]))
        assert_equal(rpc.getblockheader(tip, False), raw[:160])
        assert_equal(rpc.getblockheader(GENESIS)["nextblockhash"], rpc.getblockhash(1))
        assert "previousblockhash" not in rpc.getblockheader(GENESIS)

        self.log("getchaintips, getmininginfo, gettxout")
        assert_equal(rpc.getchaintips(), [{"height": 104, "hash": tip, "branchlen": 0, "status": "active"}])
        mi = rpc.getmininginfo()
        assert_equal((mi["blocks"], mi["chain"], mi["pooledtx"]), (104, "regtest", 0))
        txid, value = self.coinbase(1)
        out = rpc.gettxout(txid, 0)
        assert_equal(sorted(out), ["bestblock", "coinbase", "confirmations", "scriptPubKey", "value"])
        assert_equal((out["value"], out["confirmations"], out["coinbase"]), (Decimal("50.00000000"), 104, True))
        assert_equal(rpc.gettxout(txid, 5), None)
        assert_equal(rpc.gettxout("00" * 32, 0), None)

        self.log("spending through generateblock: valid spends, chains in a block, fees")
        tx = spend_op_true(txid, 0, value, fee=10_000)
        res = rpc.generateblock(ADDR, [tx.hex()])
        block = rpc.getblock(res["hash"], 2)
        assert_equal(block["tx"][1]["txid"], tx.txid())
        assert_equal(block["tx"][1]["fee"], Decimal("0.00010000"))
        assert_equal(block["tx"][0]["vout"][0]["value"], Decimal("50.00010000"))
        assert_equal(rpc.gettxout(txid, 0), None)
        assert_equal(rpc.gettxout(tx.txid(), 0)["value"], Decimal("49.99990000"))
        child = spend_op_true(tx.txid(), 0, value - 10_000, fee=5_000)
        t2id, v2 = self.coinbase(2)
        parent2 = spend_op_true(t2id, 0, v2)
        grandchild = spend_op_true(parent2.txid(), 0, v2 - 1000)
        rpc.generateblock(ADDR, [child.hex(), parent2.hex(), grandchild.hex()])
        assert_equal(rpc.gettxout(grandchild.txid(), 0)["value"], Decimal("49.99998000"))
        v3 = rpc.getblock(rpc.getbestblockhash(), 3)
        prevout = v3["tx"][1]["vin"][0]["prevout"]
        assert_equal((prevout["generated"], prevout["height"]), (False, 105))

        self.log("invalid transactions are rejected with Core's reasons")
        height = rpc.getblockcount()
        assert_raises_rpc_error(-25, "bad-txns-inputs-missingorspent", rpc.generateblock, ADDR, [tx.hex()])
        t3, v3v = self.coinbase(3)
        assert_raises_rpc_error(-25, "bad-txns-inputs-missingorspent", rpc.generateblock, ADDR,
                                [spend_op_true(t3, 0, v3v).hex(), spend_op_true(t3, 0, v3v, fee=2000).hex()])
        young, yv = self.coinbase(50)
        assert_raises_rpc_error(-25, "bad-txns-premature-spend-of-coinbase", rpc.generateblock, ADDR, [spend_op_true(young, 0, yv).hex()])
        assert_raises_rpc_error(-25, "bad-txns-in-belowout", rpc.generateblock, ADDR, [spend_op_true(t3, 0, v3v, fee=-1).hex()])
        assert_raises_rpc_error(-25, "mandatory-script-verify-flag-failed", rpc.generateblock, ADDR,
                                [spend_op_true(t3, 0, v3v, witness=[bytes([0x00])]).hex()])
        nonfinal = spend_op_true(t3, 0, v3v, sequence=0, locktime=height + 10)
        assert_raises_rpc_error(-25, "bad-txns-nonfinal", rpc.generateblock, ADDR, [nonfinal.hex()])
        relative = spend_op_true(grandchild.txid(), 0, v2 - 1000, sequence=5)
        assert_raises_rpc_error(-25, "bad-txns-nonfinal", rpc.generateblock, ADDR, [relative.hex()])
        rpc.generatetoaddress(4, ADDR)
        rpc.generateblock(ADDR, [relative.hex()])
        assert_raises_rpc_error(-5, "not in mempool", rpc.generateblock, ADDR, ["aa" * 32])
        assert_raises_rpc_error(-22, "Transaction decode failed", rpc.generateblock, ADDR, ["00"])

        self.log("submitblock: accepted, duplicate, mutated, undecodable")
        res = rpc.generateblock(ADDR, [spend_op_true(t3, 0, v3v).hex()], False)
        assert_equal(sorted(res), ["hash", "hex"])
        assert_equal(rpc.getbestblockhash() != res["hash"], True)
        blockhex = res["hex"]
        # Flip a byte of the coinbase output value: the merkle root no longer matches.
        value_pos = blockhex.index("ffffffff02") + len("ffffffff02")
        mutated = blockhex[:value_pos] + ("00" if blockhex[value_pos:value_pos + 2] != "00" else "01") + blockhex[value_pos + 2:]
        assert_equal(rpc.submitblock(mutated), "bad-txnmrklroot")
        assert_equal(rpc.submitblock(blockhex), None)
        assert_equal(rpc.getbestblockhash(), res["hash"])
        assert_equal(rpc.submitblock(blockhex), "duplicate")
        assert_raises_rpc_error(-22, "Block decode failed", rpc.submitblock, "00")
        assert_equal(rpc.submitblock(rpc.getblock(rpc.getblockhash(10), 0)), "duplicate")

        self.log("subsidy halves at height 150")
        rpc.generatetoaddress(150 - rpc.getblockcount(), ADDR)
        assert_equal(rpc.getblock(rpc.getblockhash(149), 2)["tx"][0]["vout"][0]["value"], Decimal("50.00000000"))
        assert_equal(rpc.getblock(rpc.getblockhash(150), 2)["tx"][0]["vout"][0]["value"], Decimal("25.00000000"))

        self.log("waitfornewblock / waitforblockheight / waitforblock")
        assert_equal(rpc.waitforblockheight(1)["height"], 150)
        assert_equal(rpc.waitfornewblock(100)["hash"], rpc.getbestblockhash())
        result = {}
        waiter = node.proxy()
        t = threading.Thread(target=lambda: result.update(waiter.waitforblockheight(152, 20000)))
        t.start()
        new = rpc.generatetoaddress(2, ADDR)
        t.join()
        assert_equal(result, {"hash": new[-1], "height": 152})
        t = threading.Thread(target=lambda: result.update(waiter.waitfornewblock(20000)))
        t.start()
        import time
        time.sleep(0.3)
        new = rpc.generatetoaddress(1, ADDR)
        t.join()
        assert_equal(result, {"hash": new[0], "height": 153})
        assert_equal(rpc.waitforblock(new[0], 100)["hash"], new[0])
        waiter.close()

        self.log("setmocktime moves block times")
        rpc.setmocktime(2_000_000_000)
        h = rpc.generatetoaddress(1, ADDR)[0]
        assert_equal(rpc.getblock(h)["time"], 2_000_000_000)
        rpc.setmocktime(0)
        node.stop()


if __name__ == "__main__":
    MiningTest().main()
