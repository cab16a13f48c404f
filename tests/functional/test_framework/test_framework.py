"""Base class of the functional tests: temp dir, nodes, run, cleanup, exit code."""

import os
import shutil
import sys
import tempfile
import traceback

from .test_node import TestNode

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def binaries():
    node = os.environ.get("HASHVIVED", os.path.join(REPO, "target", "release", "hashvived"))
    cli = os.environ.get("HASHVIVECLI", os.path.join(REPO, "target", "release", "hashvive-cli"))
    return node, cli


class HashviveTestFramework:
    num_nodes = 1

    def set_test_params(self):
        """Override to change num_nodes."""

    def run_test(self):
        raise NotImplementedError

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
