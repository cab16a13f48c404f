#!/usr/bin/env python3
"""Mempool policy options as Core's: -acceptnonstdtxn, -datacarrier, -datacarriersize,
-limitancestorcount, -limitdescendantcount, -limitdescendantsize (which also raises the
-maxmempool floor) and -mocktime."""

from test_framework.messages import P2WSH_OP_TRUE, spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, coinbase_txid

COIN = 100_000_000


def data_output(size):
    """An OP_RETURN output pushing `size` bytes (a script of size + 2, or + 3 above 75)."""
    push = bytes([size]) if size <= 75 else bytes([0x4c, size])
    return (0, bytes([0x6a]) + push + b"\x11" * size)


class MempoolOptionsTest(HashviveTestFramework):
    def tma(self, tx):
        return self.nodes[0].rpc.testmempoolaccept([tx.hex()])[0]

    def assert_rejected(self, tx, reason, details=None):
        res = self.tma(tx)
        assert_equal((res["allowed"], res["reject-reason"]), (False, reason))
        if details is not None:
            assert_equal(res["reject-details"], f"{reason}, {details}")

    def restart(self, args):
        self.nodes[0].stop()
        self.nodes[0].start(args)

    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc
        rpc.generatetoaddress(120, ADDR)
        cb = [None] + [coinbase_txid(rpc, h) for h in range(1, 11)]
        value = 50 * COIN

        def with_outputs(*outs):
            spent = sum(v for v, _ in outs)
            return spend_op_true(cb[1], 0, value, outputs=[(value - spent - 10_000, P2WSH_OP_TRUE)] + list(outs))

        dust = with_outputs((100, P2WSH_OP_TRUE))
        bare = with_outputs((1000, bytes([0x51])))
        data80, data20 = with_outputs(data_output(80)), with_outputs(data_output(20))

        self.log("defaults: standardness, 83-byte data outputs")
        self.assert_rejected(dust, "dust")
        self.assert_rejected(bare, "scriptpubkey")
        assert_equal(self.tma(data80)["allowed"], True)
        assert_equal(self.tma(with_outputs(data_output(81)))["reject-reason"], "scriptpubkey")

        self.log("-acceptnonstdtxn takes non-standard transactions")
        self.restart(["-acceptnonstdtxn"])
        assert_equal(self.tma(dust)["allowed"], True)
        assert_equal(self.tma(bare)["allowed"], True)

        self.log("-datacarrier=0 and -datacarriersize")
        self.restart(["-datacarrier=0"])
        self.assert_rejected(data20, "scriptpubkey")
        self.restart(["-datacarriersize=10"])
        self.assert_rejected(data20, "scriptpubkey")
        assert_equal(self.tma(with_outputs(data_output(8)))["allowed"], True)

        self.log("-limitancestorcount")
        self.restart(["-limitancestorcount=2"])
        parent = spend_op_true(cb[2], 0, value)
        child = spend_op_true(parent.txid(), 0, value - 1000)
        grandchild = spend_op_true(child.txid(), 0, value - 2000)
        for tx in (parent, child):
            node.sendrawtransaction(tx.hex())
        self.assert_rejected(grandchild, "too-long-mempool-chain", "too many unconfirmed ancestors [limit: 2]")

        self.log("-limitdescendantcount")
        self.restart(["-limitdescendantcount=2"])
        fan = spend_op_true(cb[3], 0, value, outputs=[(value // 2 - 1000, P2WSH_OP_TRUE)] * 2)
        node.sendrawtransaction(fan.hex())
        node.sendrawtransaction(spend_op_true(fan.txid(), 0, value // 2 - 1000).hex())
        self.assert_rejected(spend_op_true(fan.txid(), 1, value // 2 - 1000), "too-long-mempool-chain",
                             f"too many descendants for tx {fan.txid()} [limit: 2]")

        self.log("-limitdescendantsize (kvB), which also raises the -maxmempool floor")
        self.restart(["-limitdescendantsize=1"])
        single = spend_op_true(cb[4], 0, value)
        node.sendrawtransaction(single.hex())
        wide = spend_op_true(single.txid(), 0, value - 1000, outputs=[((value - 30_000) // 30, P2WSH_OP_TRUE)] * 30)
        self.assert_rejected(wide, "too-long-mempool-chain",
                             f"exceeds descendant size limit for tx {single.txid()} [limit: 1000]")
        node.stop()
        code, _, err = node.run_expect_failure(["-maxmempool=5", "-limitdescendantsize=200"])
        assert_equal(code, 1)
        assert "Error: -maxmempool must be at least 8 MB" in err, err

        self.log("-mocktime sets the node's clock from the start")
        node.start(["-mocktime=2000000000"])
        tx = spend_op_true(cb[5], 0, value)
        node.sendrawtransaction(tx.hex())
        assert_equal(node.getmempoolentry(tx.txid())["time"], 2_000_000_000)
        node.stop()


if __name__ == "__main__":
    MempoolOptionsTest().main()
