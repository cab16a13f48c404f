#!/usr/bin/env python3
"""P2P sync and relay: three nodes in a line (0 - 1 - 2) sync 200 blocks headers-first;
a transaction sent to the last node reaches every mempool; new blocks propagate and
clear the mempools; getpeerinfo, getnetworkinfo, getconnectioncount, getnettotals and
ping have Core's shapes."""

from test_framework.messages import spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_greater_than, wait_until, coinbase_txid

COIN = 100_000_000

PEERINFO_FIELDS = ["id", "addr", "addrbind", "network", "services", "servicesnames", "relaytxes",
                   "lastsend", "lastrecv", "last_transaction", "last_block", "bytessent", "bytesrecv",
                   "conntime", "timeoffset", "pingtime", "minping", "version", "subver", "inbound",
                   "bip152_hb_to", "bip152_hb_from", "startingheight", "presynced_headers",
                   "synced_headers", "synced_blocks", "inflight", "addr_relay_enabled",
                   "addr_processed", "addr_rate_limited", "permissions", "minfeefilter",
                   "bytessent_per_msg", "bytesrecv_per_msg", "connection_type",
                   "transport_protocol_type", "session_id"]


class P2PSyncTest(HashviveTestFramework):
    def set_test_params(self):
        self.num_nodes = 3

    def run_test(self):
        n0, n1, n2 = self.nodes
        for n in self.nodes:
            n.start()
        self.log("node0 mines 200 blocks; nodes 1 and 2 sync through the line 0 - 1 - 2")
        n0.generatetoaddress(200, ADDR)
        self.connect_nodes(1, 0)
        self.connect_nodes(2, 1)
        self.sync_blocks()
        assert_equal(n2.getblockcount(), 200)
        assert_equal(n1.getconnectioncount(), 2)
        assert_equal(n0.getconnectioncount(), 1)

        self.log("getpeerinfo: Core's fields, in Core's order")
        wait_until(lambda: all("pingtime" in p for p in n1.getpeerinfo()), what="pings")
        peers = n1.getpeerinfo()
        out = [p for p in peers if not p["inbound"]][0]
        inb = [p for p in peers if p["inbound"]][0]
        assert_equal(list(out), PEERINFO_FIELDS)
        assert_equal(out["addr"], f"127.0.0.1:{n0.p2p_port}")
        assert_equal(out["connection_type"], "manual")
        assert_equal(inb["connection_type"], "inbound")
        assert_equal(out["version"], 70016)
        assert_equal(out["services"], "0000000000000009")
        assert_equal(out["servicesnames"], ["NETWORK", "WITNESS"])
        assert out["subver"].startswith("/hashvive:") and out["subver"].endswith("(testnode0)/"), out["subver"]
        assert_equal(inb["subver"].endswith("(testnode2)/"), True)
        assert_equal(out["startingheight"], 200)
        assert_equal(inb["startingheight"], 0)
        assert_equal((out["synced_headers"], out["synced_blocks"]), (200, 200))
        assert_equal(out["relaytxes"], True)
        assert_equal(out["transport_protocol_type"], "v1")
        # Per-message byte counts include the 24-byte header: verack is header only.
        assert_equal(out["bytesrecv_per_msg"]["verack"], 24)
        assert_equal(out["bytessent_per_msg"]["verack"], 24)
        assert_equal(out["bytessent_per_msg"]["version"], 24 + 4 + 8 + 8 + 26 + 26 + 8 + 1 + len(n1.getnetworkinfo()["subversion"]) + 4 + 1)
        assert_equal(sum(out["bytesrecv_per_msg"].values()), out["bytesrecv"])
        assert_greater_than(out["bytesrecv_per_msg"]["block"], 200 * 200)
        for key in ("wtxidrelay", "sendaddrv2", "sendheaders", "feefilter", "ping", "pong", "getheaders", "headers"):
            assert key in out["bytesrecv_per_msg"], key

        self.log("getnetworkinfo, getnettotals, ping")
        info = n0.getnetworkinfo()
        assert_equal(info["subversion"], out["subver"])
        assert_equal(info["protocolversion"], 70016)
        assert_equal(info["localservicesnames"], ["NETWORK", "WITNESS"])
        assert_equal((info["connections"], info["connections_in"], info["connections_out"]), (1, 1, 0))
        assert_equal(info["networkactive"], True)
        assert_equal(info["localaddresses"], [])
        totals = n1.getnettotals()
        assert_equal(totals["totalbytesrecv"], sum(p["bytesrecv"] for p in n1.getpeerinfo()))
        before = {p["id"]: p["bytessent_per_msg"]["ping"] for p in n1.getpeerinfo()}
        assert_equal(n1.ping(), None)
        wait_until(lambda: all(p["bytesrecv_per_msg"]["pong"] == before[p["id"]] + 32 for p in n1.getpeerinfo()),
                   what="pongs after ping RPC")

        self.log("a transaction sent to node2 reaches node1 and node0")
        cb = coinbase_txid(n0, 1)
        tx = spend_op_true(cb, 0, 50 * COIN, fee=2000)
        txid = n2.sendrawtransaction(tx.hex())
        self.sync_mempools()
        assert_equal(n0.getrawmempool(), [txid])
        # A child arriving later follows its parent.
        child = spend_op_true(txid, 0, 50 * COIN - 2000, fee=2000)
        n2.sendrawtransaction(child.hex())
        self.sync_mempools()
        assert_equal(len(n0.getrawmempool()), 2)
        wait_until(lambda: any(p["last_transaction"] > 0 for p in n0.getpeerinfo()), what="last_transaction")

        self.log("a block mined on node0 reaches node2 and empties every mempool")
        n0.generatetoaddress(1, ADDR)
        self.sync_all()
        assert_equal(n2.getrawmempool(), [])
        assert_equal(n2.getblockcount(), 201)
        self.log("blocks mined on node2 reach node0 as well")
        n2.generatetoaddress(5, ADDR)
        self.sync_blocks()
        assert_equal(n0.getblockcount(), 206)

        for n in self.nodes:
            n.stop()


if __name__ == "__main__":
    P2PSyncTest().main()
