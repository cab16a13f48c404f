#!/usr/bin/env python3
"""hashvive-ipc-trace on real traces: hashvive-node and its spawned hashvive-wallet run with
-ipctrace (over shared memory and over the socket), then dump, stats and plot must agree
with each other and with what the processes did.

This test always runs hashvive-node, hashvive-wallet and hashvive-ipc-trace (found next to
$HASHVIVED), whichever node binary the rest of the suite checks. It checks structure and
invariants, not timings."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_framework.test_framework import HashviveTestFramework, sibling_binary
from test_framework.util import assert_equal, wait_until


class IpcTraceToolTest(HashviveTestFramework):
    def tool(self, *args, expect=0):
        proc = subprocess.run([self.tool_bin] + list(args), capture_output=True, text=True, timeout=120)
        assert_equal(proc.returncode, expect)
        return proc

    def dump(self, files, *args):
        proc = self.tool("dump", "--json", *args, *files)
        assert_equal(proc.stderr, "")
        return [json.loads(line) for line in proc.stdout.splitlines()]

    def record_run(self, node, extra):
        for name in os.listdir(node.chaindir) if os.path.isdir(node.chaindir) else []:
            if name.startswith("ipc.trace"):
                os.remove(os.path.join(node.chaindir, name))
        node.start(["-ipctrace=ipc.trace"] + extra)
        wait_until(lambda: "IPC: hashvive-wallet-" in node.debug_log_text(), what="wallet connection")
        node.getblockcount()
        node.stop()
        files = sorted(os.path.join(node.chaindir, f) for f in os.listdir(node.chaindir) if f.startswith("ipc.trace"))
        assert_equal(len(files), 2)
        assert files[0].endswith("ipc.trace") and ".wallet-" in files[1], files
        return files

    def check_run(self, files, transport):
        node_file, wallet_file = files
        records = {f: (os.path.getsize(f) - 64) // 48 for f in files}
        for f in files:
            assert_equal((os.path.getsize(f) - 64) % 48, 0)

        self.log("dump: every record once, in time order, both processes named")
        lines = self.dump(files)
        assert_equal(len(lines), sum(records.values()))
        times = [l["time_ns"] for l in lines]
        assert_equal(times, sorted(times))
        procs = {l["process"]: l["pid"] for l in lines}
        assert_equal(sorted(procs), ["hashvive-node", "hashvive-wallet"])
        assert wallet_file.endswith("wallet-%d" % procs["hashvive-wallet"]), wallet_file
        assert all(l["transport"] == transport for l in lines)
        assert all(l["method"] == "(close)" or "." in l["method"] for l in lines)

        self.log("dump: every response answers an earlier request, and latencies are consistent")
        requests = {}
        for l in lines:
            key = (l["call_id"], l["method"])
            if l["kind"] in ("request", "callback"):
                requests.setdefault(key, []).append(l)
            elif l["kind"] in ("response", "error"):
                assert l["latency_ns"] is not None and l["latency_ns"] > 0, l
                assert any((r["call_id"], r["method"]) == key and r["kind"] in ("request", "callback")
                           for r in lines), "response without request: %s" % l
                if l["process"] == "hashvive-node":
                    # The node traces from its first frame, so its own file holds the request,
                    # stamped earlier by the same thread. (Across processes no order is
                    # asserted: a send is stamped after the peer was woken, so a receiver can
                    # record a frame before its sender does.)
                    earlier = [r for r in requests.get(key, []) if r["time_ns"] <= l["time_ns"]]
                    assert any(r["process"] == "hashvive-node" and r["conn"] == l["conn"]
                               and r["direction"] != l["direction"] for r in earlier), l
            else:
                assert l["latency_ns"] is None, l

        self.log("dump: Init.make_wallet_loader is in both processes' files")
        loader = self.dump(files, "--method", "Init.make_wallet_loader")
        by = {(l["process"], l["direction"], l["kind"]): l for l in loader}
        client = by[("hashvive-node", "recv", "response")]
        server = by[("hashvive-wallet", "send", "response")]
        assert ("hashvive-node", "send", "request") in by
        assert_equal(client["call_id"], server["call_id"])
        assert client["latency_ns"] > 0 and server["latency_ns"] > 0

        self.log("dump: filters combine")
        node_only = self.dump(files, "--conn", "hashvive-node:%d" % client["conn"], "--kind", "response,error")
        assert node_only and all(l["process"] == "hashvive-node" and l["kind"] in ("response", "error") for l in node_only)
        slow = self.dump(files, "--min-latency", "%dns" % client["latency_ns"])
        assert client in slow and all(l["latency_ns"] >= client["latency_ns"] for l in slow)
        window = self.dump(files, "--since", "%dns" % times[1], "--until", "%dns" % times[-1])
        assert_equal(window, [l for l in lines if times[1] <= l["time_ns"] < times[-1]])
        text = self.tool("dump", *files).stdout.splitlines()
        assert_equal(len(text), len(lines))
        assert any("Init.make_wallet_loader" in t and "lat=" in t for t in text)

        self.log("stats: totals equal the record counts, transport %s" % transport)
        stats = json.loads(self.tool("stats", "--json", *files).stdout)
        assert_equal(stats["totals"]["records"], sum(records.values()))
        assert_equal([f["records"] for f in stats["files"]], [records[f] for f in files])
        assert_equal(stats["transport"], transport)
        assert_equal(stats["totals"]["calls"], sum(1 for l in lines if l["kind"] in ("request", "callback")))
        assert_equal(stats["totals"]["errors"], sum(1 for l in lines if l["kind"] == "error"))
        assert_equal(stats["totals"]["bytes_out"], sum(l["size"] for l in lines if l["direction"] == "send"))
        assert_equal(stats["totals"]["bytes_in"], sum(l["size"] for l in lines if l["direction"] == "recv"))
        rows = {(r["process"], r["role"], r["method"]): r for r in stats["methods"]}
        row = rows[("hashvive-node", "client", "Init.make_wallet_loader")]
        assert_equal(row["calls"], 1)
        # HDR histograms keep 3 significant digits.
        assert abs(row["max_ns"] - client["latency_ns"]) <= client["latency_ns"] // 500 + 1, (row, client)
        assert ("hashvive-wallet", "server", "Init.make_wallet_loader") in rows
        table = self.tool("stats", *files).stdout
        assert "transport: %s" % transport in table, table
        assert "Init.make_wallet_loader" in table

        self.log("plot: a valid SVG naming the methods")
        svg = os.path.join(self.options_tmpdir, "latency.svg")
        proc = self.tool("plot", "-o", svg, "--method", "Init.make_wallet_loader", "--method", "Chain.*", *files)
        assert_equal(proc.stderr, "")
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg"), root.tag
        with open(svg) as f:
            content = f.read()
        assert "Init.make_wallet_loader (hashvive-node client)" in content
        assert "latency (µs, log scale)" in content

    def run_test(self):
        node = self.nodes[0]
        node.binary = sibling_binary("hashvive-node")
        self.tool_bin = sibling_binary("hashvive-ipc-trace")
        self.options_tmpdir = node.datadir

        self.log("a node-plus-wallet run over shared memory")
        files = self.record_run(node, [])
        self.check_run(files, "shm")

        self.log("a truncated copy (a process killed mid-write) reads up to its last record")
        with open(files[0], "rb") as f:
            data = f.read()
        cut = os.path.join(node.datadir, "cut.trace")
        with open(cut, "wb") as f:
            f.write(data[:len(data) - 30])
        complete = (len(data) - 30 - 64) // 48
        proc = self.tool("stats", "--json", cut)
        assert_equal(json.loads(proc.stdout)["totals"]["records"], complete)
        assert "stopped at byte %d" % (64 + complete * 48) in proc.stderr, proc.stderr

        self.log("a non-trace file is a clear error")
        proc = self.tool("dump", node.debug_log, expect=1)
        assert "not an IPC trace file" in proc.stderr, proc.stderr
        assert "panicked" not in proc.stderr

        self.log("a node-plus-wallet run over the socket fallback")
        files = self.record_run(node, ["-ipcshm=0"])
        self.check_run(files, "socket")


if __name__ == "__main__":
    IpcTraceToolTest().main()
