#!/usr/bin/env python3
"""Restart persistence and kill -9 recovery: every block whose generate call returned is
still there after a crash, the UTXO set matches the chain, and the block file holds
Core-format records (magic fabfb5da, size, block) with no torn tail."""

import http.client
import os
import random
import struct
import threading
import time
from decimal import Decimal

from test_framework.authproxy import JSONRPCException
from test_framework.messages import spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal


def block_file_records(path):
    with open(path, "rb") as f:
        data = f.read()
    pos, sizes = 0, []
    while pos < len(data):
        assert_equal(data[pos:pos + 4], bytes.fromhex("fabfb5da"))
        (size,) = struct.unpack("<I", data[pos + 4:pos + 8])
        assert pos + 8 + size <= len(data), "torn record at end of block file"
        sizes.append(size)
        pos += 8 + size
    return sizes


class PersistenceTest(HashviveTestFramework):
    def check_consistent(self, rpc):
        """Coinbase outputs plus spends must match the UTXO set for the active chain."""
        height = rpc.getblockcount()
        info = rpc.gettxoutsetinfo()
        assert_equal(info["height"], height)
        assert_equal(info["bestblock"], rpc.getbestblockhash())
        subsidy_sats = sum((50 * 100_000_000) >> (h // 150) for h in range(1, height + 1))
        assert_equal(info["total_amount"], Decimal(subsidy_sats) / 100_000_000)

    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc

        self.log("a clean restart keeps blocks, coins and the tip")
        hashes = rpc.generatetoaddress(120, ADDR)
        cb = rpc.getblock(hashes[0], 2)["tx"][0]["txid"]
        spend = spend_op_true(cb, 0, 50 * 100_000_000)
        rpc.generateblock(ADDR, [spend.hex()])
        tip, raw = rpc.getbestblockhash(), rpc.getblock(rpc.getbestblockhash(), 0)
        node.stop()
        node.start()
        assert_equal(node.getbestblockhash(), tip)
        assert_equal(node.getblock(tip, 0), raw)
        assert_equal(node.gettxout(cb, 0), None)
        assert_equal(node.gettxout(spend.txid(), 0)["value"], Decimal("49.99999000"))
        self.check_consistent(node.rpc)

        self.log("kill -9 while mining, three times")
        for round_ in range(3):
            confirmed = []
            stop = threading.Event()
            miner = node.proxy(timeout=30)

            def mine():
                while not stop.is_set():
                    try:
                        confirmed.extend(miner.generatetoaddress(5, ADDR))
                    except (OSError, JSONRPCException, http.client.HTTPException):
                        return

            t = threading.Thread(target=mine)
            t.start()
            time.sleep(random.uniform(0.3, 1.2))
            node.kill()
            stop.set()
            t.join()
            miner.close()
            assert confirmed, "miner made progress before the kill"
            node.start()
            rpc = node.rpc
            for h in confirmed:
                assert_equal(rpc.getblockheader(h)["confirmations"] > 0, True)
            assert rpc.getblockcount() >= rpc.getblockheader(confirmed[-1])["height"]
            self.check_consistent(rpc)
            self.log(f"round {round_}: {len(confirmed)} blocks confirmed before kill, height now {rpc.getblockcount()}")
            # The node keeps working after recovery.
            rpc.generatetoaddress(3, ADDR)

        self.log("block files hold exactly the stored blocks in Core's record format")
        node.stop()
        sizes = block_file_records(os.path.join(node.chaindir, "blocks", "blk00000.dat"))
        node.start()
        tips = node.getchaintips()
        assert_equal(len(tips), 1)
        assert_equal(len(sizes), node.getblockcount() + 1)
        assert_equal(sizes[0], 285)
        self.check_consistent(node.rpc)
        node.stop()

        self.log("a corrupted recent block is detected at start")
        path = os.path.join(node.chaindir, "blocks", "blk00000.dat")
        with open(path, "r+b") as f:
            data = f.read()
            last = len(data) - sizes[-1]
            f.seek(last + 76)  # the nonce of the tip's header
            f.write(bytes([data[last + 76] ^ 0xff]))
        code, _, err = node.run_expect_failure([])
        assert_equal(code, 1)
        assert "Corrupted block database detected" in err, err


if __name__ == "__main__":
    PersistenceTest().main()
