#!/usr/bin/env python3
"""The wallet in its own process: wallet RPCs through hashvive-node, echoipc, 16 concurrent
wallet clients, the wallet killed (-18, then reattached with -ipcconnect over shared memory
and over the socket), the node killed (the attached wallet exits cleanly, nothing lost),
and stop ending both processes with exit code 0.

Always runs hashvive-node and hashvive-wallet, found next to $HASHVIVED."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_framework.authproxy import JSONRPCException
from test_framework.test_framework import HashviveTestFramework, sibling_binary
from test_framework.util import assert_equal, assert_raises_rpc_error, wait_until


def child_pids(node):
    return [int(p) for p in re.findall(r"Process hashvive-wallet pid (\d+) launched", node.debug_log_text())]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


class MultiprocessWalletTest(HashviveTestFramework):
    def attach(self, node, *extra):
        proc = subprocess.Popen([self.wallet_bin, "-ipcconnect=unix", f"-datadir={node.datadir}", "-regtest", *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.attached.append(proc)
        return proc

    def run_test(self):
        node = self.nodes[0]
        node.binary = sibling_binary("hashvive-node")
        self.wallet_bin = sibling_binary("hashvive-wallet")
        self.attached = []
        try:
            self.run_checks(node)
        finally:
            for proc in self.attached:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

    def run_checks(self, node):
        node.start(["-ipcbind=unix", "-fallbackfee=0.0002"])
        child = child_pids(node)[-1]
        assert alive(child)

        self.log("wallet RPCs reach the wallet process; echoipc crosses it")
        node.createwallet("w1")
        w1 = node.get_wallet_rpc("w1")
        address = w1.getnewaddress()
        node.generatetoaddress(101, address)
        assert_equal(w1.getbalance(), 50)
        assert_equal(node.echoipc("hello"), "hello")

        self.log("the spawned wallet holds none of the node's files or sockets")
        for fd in os.listdir(f"/proc/{child}/fd"):
            try:
                target = os.readlink(f"/proc/{child}/fd/{fd}")
            except OSError:
                continue
            assert "chainstate" not in target and "/blocks/" not in target, target
            assert not target.endswith(".cookie"), target

        self.log("16 clients call the wallet at once")
        errors = []
        seen = []

        def client():
            try:
                rpc = node.get_wallet_rpc("w1")
                for _ in range(25):
                    seen.append(rpc.getnewaddress())
                    assert_equal(rpc.getbalances()["mine"]["trusted"], 50)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert_equal(errors, [])
        assert_equal(len(set(seen)), 16 * 25)
        txid = w1.sendtoaddress(address, 1)
        node.generatetoaddress(1, address)

        self.log("300 wallet calls, each on a new connection (a new node thread): all answered")
        # The wallet process used to keep one server thread per node thread it had ever
        # seen and dropped the node after 256 of them, as a stream of CLI calls does.
        for i in range(300):
            rpc = node.get_wallet_rpc("w1")
            assert_equal(rpc.getwalletinfo()["walletname"], "w1")
            rpc._conn.close()
        assert_equal(child_pids(node)[-1], child)
        threads = len(os.listdir(f"/proc/{child}/task"))
        assert threads < 64, f"the wallet process runs {threads} threads"

        self.log("kill -9 the wallet: chain RPCs go on, wallet RPCs say -18")
        os.kill(child, signal.SIGKILL)
        wait_until(lambda: "Process hashvive-wallet pid %d exited" % child in node.debug_log_text(), what="exit line")
        assert_equal(node.getblockcount(), 102)
        assert_raises_rpc_error(-18, "Wallet process disconnected", w1.getbalance)

        self.log("a wallet attached with -ipcconnect restores service")
        proc = self.attach(node)
        wait_until(lambda: "IPC: hashvive-wallet-%d connected over shared memory" % proc.pid in node.debug_log_text(),
                   what="attach")
        wait_until(lambda: self.try_load(node, "w1"), what="loadwallet w1")
        assert_equal(w1.gettransaction(txid)["confirmations"], 1)
        assert_equal(w1.getbalance(), w1.getbalances()["mine"]["trusted"])

        self.log("a second wallet process is refused while one serves")
        extra = self.attach(node)
        assert_equal(extra.wait(timeout=30), 1)
        assert b"another wallet process" in extra.stderr.read()

        self.log("the attached wallet stops cleanly and unregisters; one over the socket takes over")
        proc.send_signal(signal.SIGTERM)
        assert_equal(proc.wait(timeout=30), 0)
        assert_equal(proc.stderr.read(), b"")
        wait_until(lambda: self.wallet_error(w1) == -18, what="-18 after the wallet left")
        proc = self.attach(node, "-ipcshm=0")
        wait_until(lambda: "IPC: hashvive-wallet-%d connected over socket" % proc.pid in node.debug_log_text(),
                   what="socket attach")
        wait_until(lambda: self.try_load(node, "w1"), what="loadwallet w1 over the socket")
        balance = w1.getbalance()
        assert balance > 0

        self.log("kill -9 the node: the attached wallet exits cleanly at once, its DB intact")
        node.kill()
        started = time.time()
        assert_equal(proc.wait(timeout=10), 0)
        assert time.time() - started < 2, "the wallet took too long to exit"
        assert_equal(proc.stderr.read(), b"")
        node.start(["-fallbackfee=0.0002"])
        node.loadwallet("w1")
        w1 = node.get_wallet_rpc("w1")
        assert_equal(w1.getbalance(), balance)
        assert_equal(w1.gettransaction(txid)["txid"], txid)

        self.log("stop ends both processes in order with exit code 0")
        child = child_pids(node)[-1]
        node.stop()
        assert "Process hashvive-wallet pid %d exited with status 0" % child in node.debug_log_text()
        assert not alive(child)

    def wallet_error(self, rpc):
        try:
            rpc.getbalance()
            return None
        except JSONRPCException as e:
            return e.error["code"]

    def try_load(self, node, name):
        try:
            node.loadwallet(name)
            return True
        except Exception:  # noqa: BLE001 - not yet attached
            return False


if __name__ == "__main__":
    MultiprocessWalletTest().main()
