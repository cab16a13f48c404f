#!/usr/bin/env python3
"""P2P sync benchmark (not run by CI): node A holds a chain of N blocks of T transactions
each (default 2000 x 50); an empty node B connects to A and syncs it headers-first.
Prints blocks/s and the peak RSS (VmHWM) of both nodes during the sync.

    cargo build --release -p hashvive-bins
    python3 benches/p2p_sync.py [--blocks 2000] [--txs 50]

A is restarted after building the chain, so its peak RSS covers serving the sync only.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "functional"))

from test_framework.messages import P2WSH_OP_TRUE, spend_op_true  # noqa: E402
from test_framework.test_framework import binaries  # noqa: E402
from test_framework.test_node import TestNode  # noqa: E402
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR  # noqa: E402

COIN = 100_000_000
FEE = 500


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_chain(node, blocks, txs_per_block):
    """Mines `blocks` blocks on top of 101 setup blocks, each with `txs_per_block`
    transactions: one chain of spends per slot, fanned out from one coinbase."""
    node.generatetoaddress(101, ADDR)
    cb = node.getblock(node.getblockhash(1), 2)["tx"][0]["txid"]
    each = (50 * COIN - 10_000) // txs_per_block
    split = spend_op_true(cb, 0, 50 * COIN, outputs=[(each, P2WSH_OP_TRUE)] * txs_per_block)
    split_txid = node.sendrawtransaction(split.hex())
    node.generatetoaddress(1, ADDR)
    utxos = [(split_txid, i, each) for i in range(txs_per_block)]
    for b in range(blocks):
        batch = []
        nxt = []
        for txid, vout, value in utxos:
            tx = spend_op_true(txid, vout, value, fee=FEE)
            batch.append({"jsonrpc": "2.0", "id": len(batch), "method": "sendrawtransaction",
                          "params": [tx.hex()]})
            nxt.append((tx.txid(), 0, value - FEE))
        replies = node.rpc.batch(batch)
        errors = [r["error"] for r in replies if r.get("error")]
        if errors:
            raise RuntimeError(f"sendrawtransaction failed: {errors[0]}")
        node.generatetoaddress(1, ADDR)
        utxos = nxt
        if (b + 1) % 200 == 0:
            print(f"  built {b + 1 + 102} blocks", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--txs", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the data directories (with -debug=net logs)")
    args = parser.parse_args()
    node_bin, cli_bin = binaries()
    tmp = tempfile.mkdtemp(prefix="hashvive_p2p_bench_")
    a = TestNode(0, tmp, node_bin, cli_bin)
    b = TestNode(1, tmp, node_bin, cli_bin)
    try:
        print(f"building {args.blocks} blocks of {args.txs} transactions on node A ...", flush=True)
        t0 = time.time()
        a.start(["-nodebug"])
        build_chain(a, args.blocks, args.txs)
        height = a.getblockcount()
        a.stop()
        print(f"  done in {time.time() - t0:.0f} s; chain height {height}")

        log_args = ["-nodebug", "-debug=net"] if args.keep else ["-nodebug"]
        a.start(log_args)
        b.start(log_args)
        cpu_a, cpu_b = cpu_seconds(a.process.pid), cpu_seconds(b.process.pid)
        start = time.time()
        b.addnode(f"127.0.0.1:{a.p2p_port}", "onetry")
        while b.getblockcount() < height:
            time.sleep(0.02)
        elapsed = time.time() - start
        assert b.getbestblockhash() == a.getbestblockhash()
        rss_a, rss_b = vm_hwm_kib(a.process.pid), vm_hwm_kib(b.process.pid)
        cpu_a = cpu_seconds(a.process.pid) - cpu_a
        cpu_b = cpu_seconds(b.process.pid) - cpu_b
        size_mb = sum(b.getblock(b.getblockhash(h))["size"] for h in range(height - 9, height + 1)) / 10 / 1e6
        print(f"synced {height} blocks (~{size_mb * 1e3:.1f} kB each) in {elapsed:.2f} s: "
              f"{height / elapsed:.0f} blocks/s, {args.txs * args.blocks / elapsed:.0f} tx/s")
        print(f"peak RSS: serving node A {rss_a / 1024:.1f} MiB, syncing node B {rss_b / 1024:.1f} MiB")
        print(f"CPU during the sync: node A {cpu_a:.2f} s, node B {cpu_b:.2f} s "
              f"(the rest of the wall time B waits: for a CPU when others run, for its per-block fsync)")
        a.stop()
        b.stop()
    finally:
        a.cleanup()
        b.cleanup()
        if args.keep:
            print(f"data directories kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
