#!/usr/bin/env python3
"""kill -9 of the node during a burst of sendtoaddress from several connections: after a
restart every txid that was returned is in the wallet, the wallet resubmits what the
mempool lost, and the two wallets' balances plus the fees add up to what was mined."""

import os
import threading
import time
from decimal import Decimal

from test_framework.authproxy import JSONRPCException
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal, wait_until, ADDRESS_BCRT1_P2WSH_OP_TRUE as BURN

WALLET_ARGS = ["-fallbackfee=0.0002", "-keypool=100"]


def child_pids(pid):
    """Direct children of `pid` (the spawned hashvive-wallet under hashvive-node)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


class WalletCrashTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start(WALLET_ARGS)
        rpc = node.rpc
        rpc.createwallet(wallet_name="src", load_on_startup=True)
        rpc.createwallet(wallet_name="dst", load_on_startup=True)
        src = node.get_wallet_rpc("src")
        dst = node.get_wallet_rpc("dst")
        # Many coins, so the burst does not have to chain long unconfirmed change.
        for _ in range(4):
            rpc.generatetoaddress(5, src.getnewaddress())
        rpc.generatetoaddress(100, BURN)
        total = src.getbalance()
        assert_equal(total, Decimal(20 * 50))
        dst_addrs = [dst.getnewaddress() for _ in range(4)]

        self.log("burst of sendtoaddress from three connections, then kill -9")
        returned = []
        lock = threading.Lock()
        stop = threading.Event()

        def sender(k):
            proxy = node.get_wallet_rpc("src", timeout=10)
            i = 0
            while not stop.is_set():
                try:
                    txid = proxy.sendtoaddress(dst_addrs[(k + i) % 4], Decimal("0.1") + Decimal(k) / 100)
                except (OSError, JSONRPCException, ValueError, Exception):
                    return
                with lock:
                    returned.append(txid)
                i += 1

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        wait_until(lambda: len(returned) >= 30, timeout=60, what="30 sends")
        children = child_pids(node.process.pid)
        node.kill()
        stop.set()
        for t in threads:
            t.join()
        self.log(f"{len(returned)} txids returned before the kill")
        # With hashvive-node the spawned wallet process outlives its parent briefly; let it
        # finish (and write whatever it writes) before the restart reopens the log files.
        wait_until(lambda: not any(os.path.exists(f"/proc/{p}") for p in children), timeout=30,
                   what="the orphaned wallet process to exit")

        self.log("restart: every returned txid is in the wallet; balances add up")
        node.start(WALLET_ARGS)
        rpc = node.rpc
        assert_equal(sorted(rpc.listwallets()), ["dst", "src"])
        src = node.get_wallet_rpc("src")
        dst = node.get_wallet_rpc("dst")
        rpc.syncwithvalidationinterfacequeue()
        fees = Decimal(0)
        known = {t["txid"] for t in src.listtransactions("*", 100000)}
        for txid in returned:
            assert txid in known, txid
            tx = src.gettransaction(txid)
            assert tx["confirmations"] >= 0
        for txid in known:
            tx = src.gettransaction(txid)
            if "fee" in tx:
                fees += -tx["fee"]
        mempool = set(rpc.getrawmempool())
        assert set(returned) <= mempool, "resubmitted after the restart"
        sb, db = src.getbalances()["mine"], dst.getbalances()["mine"]
        assert_equal(sb["trusted"] + sb["untrusted_pending"] + db["trusted"] + db["untrusted_pending"] + fees, total)
        rpc.generatetoaddress(1, BURN)
        assert_equal(src.getbalance() + dst.getbalance() + fees, total)
        assert_equal(set(rpc.getrawmempool()), set())
        node.stop()


if __name__ == "__main__":
    WalletCrashTest().main()
