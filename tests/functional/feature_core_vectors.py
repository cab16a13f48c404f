#!/usr/bin/env python3
"""Byte-for-byte agreement with Bitcoin Core: the chain Core's rpc_dumptxoutset.py mines
(mocktime genesis+1, 100 blocks to the framework's first deterministic address) has the
same tip hash, the same UTXO set hash (hash_serialized_3 = Core's txoutset_hash) and the
same dumptxoutset snapshot file, checked against the values in that Core test."""

import hashlib
import os

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal, assert_raises_rpc_error

# Core's test framework: the first deterministic key's address.
CORE_NODE0_ADDRESS = "mjTkW3DjgyZck4KbiRusZsqTgaYTxdSz6z"
# Expected values from Core's test/functional/rpc_dumptxoutset.py.
CORE_BASE_HASH = "09abf0e7b510f61ca6cf33bab104e9ee99b3528b371d27a2d4b39abb800fba7e"
CORE_TXOUTSET_HASH = "a0b7baa3bf5ccbd3279728f230d7ca0c44a76e9923fca8f32dbfd08d65ea496a"
CORE_SNAPSHOT_SHA256 = "31fcdd0cf542a4b1dfc13c3c05106620ce48951ef62907dd8e5e8c15a0aa993b"


class CoreVectorsTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start()
        mocktime = node.getblockheader(node.getblockhash(0))["time"] + 1
        node.setmocktime(mocktime)
        node.generatetoaddress(100, CORE_NODE0_ADDRESS)
        assert_equal(node.getbestblockhash(), CORE_BASE_HASH)
        info = node.gettxoutsetinfo()
        assert_equal((info["txouts"], info["height"]), (100, 100))
        assert_equal(info["hash_serialized_3"], CORE_TXOUTSET_HASH)

        self.log("dumptxoutset writes Core's snapshot file")
        out = node.dumptxoutset("txoutset.dat")
        expected_path = os.path.join(node.chaindir, "txoutset.dat")
        assert_equal(out, {"coins_written": 100, "base_hash": CORE_BASE_HASH, "base_height": 100,
                           "path": expected_path, "txoutset_hash": CORE_TXOUTSET_HASH, "nchaintx": 101})
        with open(expected_path, "rb") as f:
            assert_equal(hashlib.sha256(f.read()).hexdigest(), CORE_SNAPSHOT_SHA256)
        assert_raises_rpc_error(-8, "txoutset.dat already exists", node.dumptxoutset, "txoutset.dat")
        invalid = os.path.join(node.datadir, "invalid", "path")
        assert_raises_rpc_error(-8, f"Couldn't open file {invalid}.incomplete for writing", node.dumptxoutset, invalid)

        self.log("BIP9 testdummy: signalled in periods 1 and 2, active (not signalled) after")
        node.generatetoaddress(340, CORE_NODE0_ADDRESS)
        version = lambda h: node.getblockheader(node.getblockhash(h))["versionHex"]
        assert_equal([version(h) for h in (143, 144, 287, 288, 431, 432, 440)],
                     ["20000000", "30000000", "30000000", "30000000", "30000000", "20000000", "20000000"])
        self.log("getdeploymentinfo follows the testdummy deployment")
        def testdummy(h):
            info = node.getdeploymentinfo(node.getblockhash(h))
            assert_equal((info["height"], info["deployments"]["segwit"]), (h, {"type": "buried", "active": True, "height": 0}))
            return info["deployments"]["testdummy"]
        t = testdummy(100)
        assert_equal((t["active"], t["bip9"]["status"], t["bip9"]["status_next"]), (False, "defined", "defined"))
        assert "bit" not in t["bip9"]
        assert_equal(testdummy(143)["bip9"]["status_next"], "started")
        t = testdummy(200)
        assert_equal((t["bip9"]["status"], t["bip9"]["since"], t["bip9"]["bit"]), ("started", 144, 28))
        assert_equal(t["bip9"]["statistics"], {"period": 144, "threshold": 108, "elapsed": 57, "count": 57, "possible": True})
        assert_equal(t["bip9"]["signalling"], "#" * 57)
        t = testdummy(431)
        assert_equal((t["bip9"]["status"], t["bip9"]["since"], t["bip9"]["status_next"], t["active"]), ("locked_in", 288, "active", True))
        t = testdummy(440)
        assert_equal((t["bip9"]["status"], t["height"], t["active"]), ("active", 432, True))
        assert_equal(node.getdeploymentinfo()["deployments"]["taproot"]["active"], True)
        node.stop()
        self.log("after a restart and a rollback to height 100 the UTXO set hash is Core's again")
        node.start()
        node.invalidateblock(node.getblockhash(101))
        assert_equal(node.gettxoutsetinfo()["hash_serialized_3"], CORE_TXOUTSET_HASH)
        node.stop()


if __name__ == "__main__":
    CoreVectorsTest().main()
