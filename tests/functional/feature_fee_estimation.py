#!/usr/bin/env python3
"""estimatesmartfee backed by the fee estimator: no data gives Core's error shape; after
blocks that confirm high-feerate transactions while low-feerate ones wait, the estimate
is the confirming feerate and targets are capped by the data collected. The data
survives a restart in fee_estimates.dat; a stale (over 60 hours) or damaged file is not
used, unless -acceptstalefeeestimates."""

import os
import time
from decimal import Decimal

from test_framework.messages import P2WSH_OP_TRUE, spend_op_true
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error, coinbase_txid

NO_DATA = ["Insufficient data or no feerate found"]
FAN_OUT = 450
ROUNDS = 12
HIGH_PER_ROUND, LOW_PER_ROUND = 25, 10
HIGH_RATE, LOW_RATE = 20, 2  # sat/vB


class FeeEstimationTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc
        rpc.generatetoaddress(110, ADDR)

        self.log("no data: Core's error shape")
        assert_equal(rpc.estimatesmartfee(2), {"errors": NO_DATA, "blocks": 0})
        assert_equal(rpc.estimatesmartfee(6, "conservative"), {"errors": NO_DATA, "blocks": 0})
        assert_raises_rpc_error(-8, "Invalid conf_target, must be between 1 and 1008", rpc.estimatesmartfee, 1009)
        assert_raises_rpc_error(-8, "Invalid estimate_mode parameter", rpc.estimatesmartfee, 2, "fast")

        self.log("fan a coinbase out into many P2WSH(OP_TRUE) coins")
        cb = coinbase_txid(rpc, 1)
        each = (50 * 100_000_000 - 200_000) // FAN_OUT
        fan = spend_op_true(cb, 0, 50 * 100_000_000, outputs=[(each, P2WSH_OP_TRUE)] * FAN_OUT)
        rpc.sendrawtransaction(fan.hex())
        rpc.generatetoaddress(1, ADDR)
        coins = list(range(FAN_OUT))
        vsize = rpc.decoderawtransaction(spend_op_true(fan.txid(), 0, each).hex())["vsize"]

        def send(rate):
            tx = spend_op_true(fan.txid(), coins.pop(), each, fee=rate * vsize)
            return rpc.sendrawtransaction(tx.hex())

        self.log(f"{ROUNDS} blocks confirm {HIGH_RATE} sat/vB transactions; {LOW_RATE} sat/vB ones wait")
        for _ in range(ROUNDS):
            high = [send(HIGH_RATE) for _ in range(HIGH_PER_ROUND)]
            for _ in range(LOW_PER_ROUND):
                send(LOW_RATE)
            rpc.generateblock(ADDR, high)
        assert_equal(rpc.getmempoolinfo()["size"], ROUNDS * LOW_PER_ROUND)

        self.log("the estimate is the confirming feerate, in BTC/kvB")
        est = rpc.estimatesmartfee(2)
        assert_equal(sorted(est), ["blocks", "feerate"])
        assert_equal(est["blocks"], 2)
        assert Decimal("0.00019") <= est["feerate"] <= Decimal("0.00021"), est
        assert_equal(rpc.estimatesmartfee(1)["blocks"], 2)  # Core answers 1 as 2
        cons = rpc.estimatesmartfee(3, "CONSERVATIVE")
        assert Decimal("0.00019") <= cons["feerate"] <= Decimal("0.00021"), cons
        # Data starts at the fan-out's block and spans ROUNDS blocks; targets are capped
        # at half of that.
        far = rpc.estimatesmartfee(1008)
        assert_equal(far["blocks"], ROUNDS // 2)
        assert far["feerate"] >= Decimal("0.00019"), far

        self.log("fee_estimates.dat keeps the estimates across a restart")
        node.stop()
        path = os.path.join(node.chaindir, "fee_estimates.dat")
        assert os.path.exists(path)
        node.start()
        assert_equal(node.estimatesmartfee(2), est)
        assert_equal(node.estimatesmartfee(1008), far)
        node.stop()

        def age_file(hours):
            old = time.time() - hours * 3600
            os.utime(path, (old, old))

        self.log("a file over 60 hours old is used only with -acceptstalefeeestimates")
        age_file(59)
        node.start()
        assert_equal(node.estimatesmartfee(2), est)
        node.stop()
        age_file(61)
        node.start(["-acceptstalefeeestimates"])
        assert_equal(node.estimatesmartfee(2), est)
        node.stop()
        age_file(61)
        node.start()
        assert_equal(node.estimatesmartfee(2), {"errors": NO_DATA, "blocks": 0})
        assert "too old (age=61 > 60 hours) and will not be used" in node.debug_log_text()
        node.stop()

        self.log("a damaged file is reported and ignored")
        with open(path, "r+b") as f:
            f.truncate(1000)
        node.start()
        assert_equal(node.estimatesmartfee(2), {"errors": NO_DATA, "blocks": 0})
        assert "Failed to read fee estimates from" in node.debug_log_text()
        node.stop()


if __name__ == "__main__":
    FeeEstimationTest().main()
