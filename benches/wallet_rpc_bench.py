#!/usr/bin/env python3
"""Wallet benchmarks over RPC (not run by CI): getnewaddress and sendtoaddress throughput,
and the time of a rescan of 1000 blocks holding 10 wallet transactions each.

    cargo build --release -p hashvive-bins
    python3 benches/wallet_rpc_bench.py [--blocks 1000] [--per-block 10]
    HASHVIVED=target/release/hashvive-node python3 benches/wallet_rpc_bench.py   # multiprocess

Each figure is printed as one line; calls go one at a time over one keep-alive connection.
"""

import argparse
import os
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "functional"))
from test_framework.test_framework import HashviveTestFramework  # noqa: E402
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as BURN  # noqa: E402


class WalletBench(HashviveTestFramework):
    def run_test(self):
        args = self.args
        node = self.nodes[0]
        node.start(["-fallbackfee=0.0002"])
        rpc = node.rpc
        rpc.createwallet("funder")
        rpc.createwallet("receiver")
        funder = node.get_wallet_rpc("funder")
        receiver = node.get_wallet_rpc("receiver")

        n = args.addresses
        t0 = time.perf_counter()
        for _ in range(n):
            receiver.getnewaddress()
        dt = time.perf_counter() - t0
        print(f"getnewaddress: {n} calls in {dt:.2f} s = {n / dt:.0f} calls/s")

        # One mature coin per send, so no send waits on unconfirmed change.
        sends = args.sends
        rpc.generatetoaddress(sends + 100, funder.getnewaddress())
        dest = receiver.getnewaddress()
        t0 = time.perf_counter()
        for _ in range(sends):
            funder.sendtoaddress(dest, Decimal("0.001"))
        dt = time.perf_counter() - t0
        print(f"sendtoaddress: {sends} calls in {dt:.2f} s = {sends / dt:.0f} calls/s")
        rpc.generatetoaddress(1, BURN)

        blocks, per = args.blocks, args.per_block
        addrs = [receiver.getnewaddress() for _ in range(per)]
        t0 = time.perf_counter()
        for _ in range(blocks):
            for a in addrs:
                funder.sendtoaddress(a, Decimal("0.0001"))
            rpc.generatetoaddress(1, funder.getnewaddress())
        build = time.perf_counter() - t0
        tip = rpc.getblockcount()
        start = tip - blocks + 1
        # A wallet that holds the receiver's keys but has seen none of these blocks.
        rpc.createwallet(wallet_name="restored", blank=True)
        restored = node.get_wallet_rpc("restored")
        descs = receiver.listdescriptors(True)["descriptors"]
        restored.importdescriptors([{"desc": d["desc"], "timestamp": "now", "active": d["active"],
                                     "internal": d["internal"], "range": d["range"]} for d in descs])
        assert restored.getwalletinfo()["txcount"] == 0
        t0 = time.perf_counter()
        res = restored.rescanblockchain(start)
        dt = time.perf_counter() - t0
        assert res == {"start_height": start, "stop_height": tip}, res
        found = restored.getwalletinfo()["txcount"]
        assert found == blocks * per, found
        print(f"rescan: {blocks} blocks x {per} wallet txs in {dt:.2f} s, {found} txs found "
              f"({blocks / dt:.0f} blocks/s; building the chain took {build:.0f} s)")
        node.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--addresses", type=int, default=2000)
    parser.add_argument("--sends", type=int, default=500)
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--per-block", type=int, default=10)
    bench = WalletBench()
    bench.args = parser.parse_args()
    sys.argv = sys.argv[:1]
    bench.main()
