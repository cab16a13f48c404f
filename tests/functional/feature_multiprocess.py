#!/usr/bin/env python3
"""hashvive-node's process wiring: the spawned hashvive-wallet, -ipcbind, attaching with
hashvive-wallet -ipcconnect and its address errors, and both processes stopping in order.

This test always runs hashvive-node and hashvive-wallet (found next to $HASHVIVED), whichever
node binary the rest of the suite checks."""

import os
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_framework.test_framework import HashviveTestFramework, sibling_binary
from test_framework.util import assert_equal, wait_until


class MultiprocessTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.binary = sibling_binary("hashvive-node")
        wallet_bin = sibling_binary("hashvive-wallet")

        self.log("hashvive-node spawns hashvive-wallet and logs it")
        node.start(["-ipcbind=unix"])
        wait_until(lambda: re.search(r"Process hashvive-wallet pid (\d+) launched", node.debug_log_text()),
                   what="launch line")
        child = int(re.search(r"Process hashvive-wallet pid (\d+) launched", node.debug_log_text()).group(1))
        assert "IPC: hashvive-wallet-%d connected over shared memory" % child in node.debug_log_text()
        assert_equal(node.getblockcount(), 0)
        node.generatetoaddress(3, "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85")

        self.log("a wallet RPC carries the node's tip: a synced wallet makes no nested tip check")
        node.createwallet("w")
        wallet = node.get_wallet_rpc("w")
        wallet.getbalances()
        before = len(node.debug_log_text())
        wallet.getbalances()
        calls = re.findall(r"IPC client send (\S+)\$Params", node.debug_log_text()[before:])
        assert_equal(calls, ["RpcActor.call"])

        self.log("-ipcbind=unix listens on <datadir>/regtest/node.sock, mode 0600")
        sock = os.path.join(node.chaindir, "node.sock")
        mode = os.stat(sock).st_mode
        assert stat.S_ISSOCK(mode)
        assert_equal(stat.S_IMODE(mode), 0o600)

        self.log("hashvive-wallet -ipcconnect address errors are clear")
        cases = [
            ("tcp:1", "Unrecognized address 'tcp:1'"),
            ("unix:/" + "a" * 120, "exceeded maximum socket path length"),
            ("unix:" + os.path.join(node.datadir, "missing.sock"), "No such file or directory"),
        ]
        for address, message in cases:
            proc = subprocess.run([wallet_bin, f"-ipcconnect={address}"], capture_output=True, text=True,
                                  timeout=30)
            assert_equal(proc.returncode, 1)
            assert message in proc.stderr, proc.stderr
        proc = subprocess.run([wallet_bin], capture_output=True, text=True, timeout=30)
        assert_equal(proc.returncode, 1)
        assert "-ipcconnect" in proc.stderr

        self.log("a wallet process attaches on the socket, over shared memory or the socket; "
                 "while the spawned one serves, it is refused")
        for shm, transport in (("1", "shared memory"), ("0", "socket")):
            proc = subprocess.Popen([wallet_bin, "-ipcconnect=unix", f"-datadir={node.datadir}", "-regtest",
                                     f"-ipcshm={shm}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            pattern = "IPC: hashvive-wallet-%d connected over %s" % (proc.pid, transport)
            wait_until(lambda: pattern in node.debug_log_text(), what=pattern)
            assert_equal(proc.wait(timeout=30), 1)
            assert b"another wallet process" in proc.stderr.read()
            assert "IPC: refusing hashvive-wallet-%d" % proc.pid in node.debug_log_text()
        assert_equal(node.getblockcount(), 3)

        self.log("stop ends both processes, with exit code 0, and removes the socket")
        node.stop()
        text = node.debug_log_text()
        assert "Process hashvive-wallet pid %d exited with status 0" % child in text, text[-2000:]
        assert not os.path.exists(sock)

        self.log("-debug=ipc logs each request and response in both processes; without it, nothing")
        assert re.search(r"\[ipc\] \{hashvive-node-\d+/[^}]+\} IPC client send Init\.make_wallet_loader\$Params", text)
        assert re.search(r"\[ipc\] \{hashvive-wallet-\d+/[^}]+\} IPC client send Chain\.get_settings_list\$Params", text)
        assert re.search(r"IPC server recv request #\d+ Chain\.get_settings_list\$Params", text)
        assert re.search(r"IPC server send response #\d+ Chain\.get_settings_list\$Results", text)
        os.remove(node.debug_log)
        node.start(["-ipctrace=ipc.trace", "-ipcspin=20"], use_base_args=False)
        wait_until(lambda: "connected over shared memory" in node.debug_log_text(), what="wallet connection")
        node.stop()
        assert "[ipc]" not in node.debug_log_text()
        # The spawned wallet gets no arguments: it spins as long as the node's -ipcspin says.
        assert "IPC: spinning up to 20 microseconds, as the node's -ipcspin says" in node.debug_log_text()

        self.log("-ipctrace records frames from both processes")
        traces = [f for f in os.listdir(node.chaindir) if f.startswith("ipc.trace")]
        assert "ipc.trace" in traces, traces
        assert any(f.startswith("ipc.trace.wallet-") for f in traces), traces
        for name in traces:
            with open(os.path.join(node.chaindir, name), "rb") as f:
                data = f.read()
            assert_equal(data[:8], b"HVIPCTRC")
            assert_equal((len(data) - 64) % 48, 0)
            assert len(data) > 64, name

        self.log("-disablewallet spawns nothing")
        node.start(["-disablewallet"])
        node.stop()
        launches = re.findall(r"Process hashvive-wallet pid \d+ launched", node.debug_log_text())
        assert_equal(len(launches), 1)

        self.log("a missing hashvive-wallet is a clear start-up error")
        lonely = os.path.join(self.tmpdir, "lonely")
        os.makedirs(lonely)
        copy = os.path.join(lonely, "hashvive-node")
        with open(node.binary, "rb") as src, open(copy, "wb") as dst:
            dst.write(src.read())
        os.chmod(copy, 0o755)
        node.binary = copy
        code, _, err = node.run_expect_failure([])
        assert_equal(code, 1)
        assert "hashvive-wallet not found" in err, err


if __name__ == "__main__":
    MultiprocessTest().main()
