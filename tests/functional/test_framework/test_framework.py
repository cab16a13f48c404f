"""Base class of the functional tests: temp dir, nodes, run, cleanup, exit code."""

import os
import shutil
import sys
import tempfile
import traceback

from .test_node import TestNode
from .util import wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def binaries():
    node = os.environ.get("HASHVIVED", os.path.join(REPO, "target", "release", "hashvived"))
    cli = os.environ.get("HASHVIVECLI", os.path.join(REPO, "target", "release", "hashvive-cli"))
    return node, cli


def sibling_binary(name):
    """Another executable of the build that $HASHVIVED comes from (hashvive-node,
    hashvive-wallet, hashvive-ipc-trace), whichever node binary the suite checks."""
    return os.path.join(os.path.dirname(binaries()[0]), name)


class HashviveTestFramework:
    num_nodes = 1

    def set_test_params(self):
        """Override to change num_nodes."""

    def run_test(self):
        raise NotImplementedError

    # Core-like helpers for multi-node tests.

    def connect_nodes(self, a, b, timeout=30):
        """Node a dials node b (addnode onetry); waits until both ends finished the
        version handshake (each has received the other's verack)."""
        from_node, to_node = self.nodes[a], self.nodes[b]
        target = f"127.0.0.1:{to_node.p2p_port}"
        from_node.addnode(target, "onetry")
        local = []

        def outbound_ready():
            for p in from_node.getpeerinfo():
                if p["addr"] == target and "verack" in p["bytesrecv_per_msg"]:
                    local[:] = [p["addrbind"]]
                    return True
            return False

        wait_until(outbound_ready, timeout, what=f"node{a} -> node{b} handshake")
        wait_until(lambda: any(p["addr"] == local[0] and "verack" in p["bytesrecv_per_msg"]
                               for p in to_node.getpeerinfo()),
                   timeout, what=f"node{b} <- node{a} handshake")

    def peer_ids(self, a, b):
        """Ids, in node a's getpeerinfo, of its connections with node b (either way)."""
        na, nb = self.nodes[a], self.nodes[b]
        b_locals = {p["addrbind"] for p in nb.getpeerinfo() if p["addr"] == f"127.0.0.1:{na.p2p_port}"}
        return [p["id"] for p in na.getpeerinfo()
                if p["addr"] == f"127.0.0.1:{nb.p2p_port}" or p["addr"] in b_locals]

    def disconnect_nodes(self, a, b, timeout=30):
        """Closes every connection between nodes a and b; waits until neither sees it."""
        for nid in self.peer_ids(a, b):
            self.nodes[a].disconnectnode(nodeid=nid)
        wait_until(lambda: not self.peer_ids(a, b) and not self.peer_ids(b, a), timeout,
                   what=f"node{a} and node{b} disconnected")

    def sync_blocks(self, nodes=None, timeout=60):
        """Waits until the nodes (default: all) have the same tip."""
        nodes = nodes or self.nodes
        wait_until(lambda: len({n.getbestblockhash() for n in nodes}) == 1, timeout,
                   what="sync_blocks")

    def sync_mempools(self, nodes=None, timeout=60):
        """Waits until the nodes (default: all) have the same mempool contents."""
        nodes = nodes or self.nodes
        wait_until(lambda: len({tuple(sorted(n.getrawmempool())) for n in nodes}) == 1, timeout,
                   what="sync_mempools")

    def sync_all(self, nodes=None, timeout=60):
        self.sync_blocks(nodes, timeout)
        self.sync_mempools(nodes, timeout)

    def log(self, msg):
        print(f"[{type(self).__name__}] {msg}", flush=True)

    def main(self):
        self.set_test_params()
        node_bin, cli_bin = binaries()
        for b in (node_bin, cli_bin):
            if not os.access(b, os.X_OK):
                print(f"binary not found: {b} (build with cargo build --release -p hashvive-bins)")
                sys.exit(1)
        self.tmpdir = tempfile.mkdtemp(prefix="hashvive_test_")
        self.nodes = [TestNode(i, self.tmpdir, node_bin, cli_bin) for i in range(self.num_nodes)]
        ok = False
        try:
            self.run_test()
            ok = True
        except Exception:
            traceback.print_exc()
            for n in self.nodes:
                try:
                    with open(n.debug_log) as f:
                        tail = f.read()[-3000:]
                    print(f"--- node{n.index} debug.log tail ---\n{tail}")
                except OSError:
                    pass
        finally:
            for n in self.nodes:
                n.cleanup()
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        print("PASS" if ok else "FAIL")
        sys.exit(0 if ok else 1)
