#!/usr/bin/env python3
"""P2P connection management: addnode add/remove/onetry, getaddednodeinfo, disconnectnode
(by address and by nodeid), setnetworkactive, -connect, -addnode, -blocksonly, -whitelist,
-maxconnections, -uacomment checks, a port already in use, clean shutdown."""

import time

from test_framework.messages import spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import (ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error,
                                 wait_until, coinbase_txid)

COIN = 100_000_000


class P2PConnectionsTest(HashviveTestFramework):
    def set_test_params(self):
        self.num_nodes = 3

    def addr(self, i):
        return f"127.0.0.1:{self.nodes[i].p2p_port}"

    def read_log(self, i):
        with open(self.nodes[i].debug_log) as f:
            return f.read()

    def onetry_refused(self, frm, to, count):
        """Node `frm` tries node `to` once; `to` still has `count` connections after 0.5 s."""
        self.nodes[frm].addnode(self.addr(to), "onetry")
        time.sleep(0.5)
        assert_equal(self.nodes[to].getconnectioncount(), count)

    def restart(self, i, args=()):
        self.nodes[i].stop()
        self.nodes[i].start(list(args))

    def run_test(self):
        n0, n1, n2 = self.nodes
        for n in self.nodes:
            n.start()
        n0.generatetoaddress(101, ADDR)

        self.log("addnode add: connects and reconnects; getaddednodeinfo")
        assert_equal(n1.getaddednodeinfo(), [])
        n1.addnode(self.addr(0), "add")
        assert_raises_rpc_error(-23, "Error: Node already added", n1.addnode, self.addr(0), "add")
        wait_until(lambda: n1.getaddednodeinfo()[0]["connected"], what="added node connected")
        info = n1.getaddednodeinfo(self.addr(0))
        assert_equal(info[0]["addednode"], self.addr(0))
        assert_equal(info[0]["addresses"], [{"address": self.addr(0), "connected": "outbound"}])
        assert_raises_rpc_error(-24, "Error: Node has not been added.", n1.getaddednodeinfo, "1.2.3.4")
        assert_raises_rpc_error(-1, "addnode \"node\" \"command\"", n1.addnode, self.addr(0), "bogus")
        self.sync_blocks([n0, n1])

        self.log("disconnectnode by address: an added node comes back")
        old_id = n1.getpeerinfo()[0]["id"]
        n1.disconnectnode(self.addr(0))
        wait_until(lambda: [p["id"] for p in n1.getpeerinfo()] not in ([], [old_id]) and n0.getconnectioncount() == 1,
                   what="reconnect of the added node")
        assert_equal(n1.getaddednodeinfo()[0]["connected"], True)

        self.log("addnode remove, then disconnectnode by nodeid: it stays away")
        n1.addnode(self.addr(0), "remove")
        assert_raises_rpc_error(-24, "Node could not be removed", n1.addnode, self.addr(0), "remove")
        peer_id = n1.getpeerinfo()[0]["id"]
        n1.disconnectnode(nodeid=peer_id)
        wait_until(lambda: n1.getconnectioncount() == 0 and n0.getconnectioncount() == 0, what="disconnect")
        time.sleep(2.5)
        assert_equal(n1.getconnectioncount(), 0)
        assert_raises_rpc_error(-29, "Node not found in connected nodes", n1.disconnectnode, nodeid=peer_id)
        assert_raises_rpc_error(-29, "Node not found in connected nodes", n1.disconnectnode, "127.0.0.1:1")
        assert_raises_rpc_error(-32602, "Only one of address and nodeid should be provided.",
                                n1.disconnectnode, "127.0.0.1:1", 3)

        self.log("addnode onetry: connects once, not listed as an added node")
        n2.addnode(self.addr(0), "onetry")
        wait_until(lambda: n2.getconnectioncount() == 1 and n0.getconnectioncount() == 1, what="onetry")
        assert_equal(n2.getaddednodeinfo(), [])
        assert_equal(n2.getpeerinfo()[0]["connection_type"], "manual")
        n2.addnode("127.0.0.1:1", "onetry")  # nobody listens there: no error, no connection
        assert_equal(n2.getconnectioncount(), 1)

        self.log("a connection to ourselves is noticed by its version nonce and dropped")
        n0.addnode(self.addr(0), "onetry")
        wait_until(lambda: "connected to self" in self.read_log(0), what="self-connection log")
        wait_until(lambda: n0.getconnectioncount() == 1, what="self-connection closed")

        self.log("setnetworkactive false drops everyone and refuses connections")
        assert_equal(n0.setnetworkactive(False), False)
        wait_until(lambda: n0.getconnectioncount() == 0 and n2.getconnectioncount() == 0, what="network off")
        assert_equal(n0.getnetworkinfo()["networkactive"], False)
        self.onetry_refused(2, 0, 0)
        assert_equal(n0.setnetworkactive(True), True)
        self.connect_nodes(2, 0)

        self.log("-blocksonly: no transaction relay to or from that node")
        self.restart(1, ["-blocksonly"])
        assert_equal(n1.getnetworkinfo()["localrelay"], False)
        self.connect_nodes(1, 0)
        self.sync_blocks()
        peer = [p for p in n0.getpeerinfo() if p["subver"].endswith("(testnode1)/")][0]
        assert_equal(peer["relaytxes"], False)
        cb = coinbase_txid(n0, 1)
        txid = n0.sendrawtransaction(spend_op_true(cb, 0, 50 * COIN).hex())
        wait_until(lambda: n2.getrawmempool() == [txid], what="relay to node2")
        time.sleep(0.5)
        assert_equal(n1.getrawmempool(), [])
        n0.generatetoaddress(1, ADDR)
        self.sync_blocks()

        self.log("-whitelist gives permissions; -maxconnections=0 refuses inbound peers")
        self.restart(0, ["-whitelist=noban@127.0.0.1"])
        self.connect_nodes(2, 0)
        assert_equal(n0.getpeerinfo()[0]["permissions"], ["noban", "download"])
        self.restart(0, ["-maxconnections=0"])
        self.onetry_refused(2, 0, 0)
        # As Core, 11 of -maxconnections are kept for automatic outbound peers.
        self.restart(0, ["-maxconnections=12"])
        n2.addnode(self.addr(0), "onetry")
        wait_until(lambda: n0.getconnectioncount() == 1, what="the one inbound slot")
        self.onetry_refused(1, 0, 1)

        self.log("-connect dials the given node at startup and turns listening off (unless -bind "
                 "asks for it); -addnode too")
        self.restart(0)
        self.restart(2, [f"-connect={self.addr(0)}", "-nobind"])
        wait_until(lambda: n2.getconnectioncount() == 1, what="-connect")
        self.restart(1, [f"-addnode={self.addr(0)}"])
        wait_until(lambda: n1.getaddednodeinfo()[0]["connected"], what="-addnode")
        assert_equal(n0.getconnectioncount(), 2)
        self.onetry_refused(1, 2, 1)
        self.restart(2, [f"-connect={self.addr(0)}"])  # the config's bind=127.0.0.1 stays
        wait_until(lambda: n2.getconnectioncount() == 1, what="-connect")
        n1.addnode(self.addr(2), "onetry")
        wait_until(lambda: n2.getconnectioncount() == 2, what="listening because of -bind")

        self.log("-listen=0 takes no inbound peers; -connect=0 dials nobody but still listens")
        self.restart(1, ["-listen=0"])
        self.onetry_refused(2, 1, 0)
        self.restart(1, ["-connect=0"])
        n2.addnode(self.addr(1), "onetry")
        wait_until(lambda: n1.getconnectioncount() == 1, what="inbound with -connect=0")
        assert all(p["inbound"] for p in n1.getpeerinfo())

        self.log("init errors: unsafe -uacomment, P2P port in use")
        n1.stop()
        code, _, err = n1.run_expect_failure(["-uacomment=bad<chars>"])
        assert_equal(code, 1)
        assert "User Agent comment (bad<chars>) contains unsafe characters." in err, err
        code, _, err = n1.run_expect_failure([f"-port={n0.p2p_port}"])
        assert_equal(code, 1)
        assert f"Unable to bind to 127.0.0.1:{n0.p2p_port}" in err, err

        self.log("clean shutdown with open connections")
        n0.stop()
        n2.stop()


if __name__ == "__main__":
    P2PConnectionsTest().main()
