#!/usr/bin/env python3
"""Invalid blocks through submitblock, with Bitcoin Core's BIP22 results: null when
accepted, "duplicate", "inconclusive" for a valid block off the best chain, else the
reject reason (high-hash, bad-txnmrklroot, bad-blk-sigops, bad-diffbits, time-too-old,
time-too-new, bad-version(0x...), bad-cb-height, unexpected-witness,
bad-witness-nonce-size, bad-witness-merkle-match, bad-txns-inputs-missingorspent,
bad-cb-amount). Boundaries: a timestamp one second above median time past, a coinbase
claiming exactly subsidy + fees, exactly 80000 sigop cost, a commitment whose coinbase
witness submitblock fills in. Then conflict eviction: a block spending a mempool
transaction's input differently removes that transaction and its descendants."""

import hashlib
import time

from test_framework.messages import (
    COIN,
    P2WSH_OP_TRUE,
    Tx,
    WITNESS_COMMITMENT_PREFIX,
    block_subsidy,
    create_block,
    create_coinbase,
    dsha256,
    script_int,
    script_push,
    spend_op_true,
)
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error, coinbase_txid

MAX_FUTURE_BLOCK_TIME = 2 * 60 * 60
# OP_1 OP_IF OP_1 OP_ELSE OP_CHECKSIG OP_ENDIF: spendable with an empty witness stack,
# yet counts one witness sigop.
SIGOP_SCRIPT = bytes([0x51, 0x63, 0x51, 0x67, 0xac, 0x68])
P2WSH_SIGOP = bytes([0x00, 0x20]) + hashlib.sha256(SIGOP_SCRIPT).digest()
# 1000 x OP_CHECKMULTISIG: 20000 legacy sigops, a sigop cost of exactly 80000 (the limit).
MAX_LEGACY_SIGOPS_SCRIPT = b"\xae" * 1000


class BlockRejectsTest(HashviveTestFramework):
    def tip(self):
        return self.rpc.getblockheader(self.rpc.getbestblockhash())

    def build(self, txs=(), fees=0, extra_value=0, extra_outputs=(), parent=None, **kw):
        """A block on `parent` (default: the tip) paying subsidy + fees (+ extra_value),
        not yet solved. Each block gets a distinct coinbase."""
        parent = parent or self.tip()
        height = parent["height"] + 1
        self.counter += 1
        coinbase = create_coinbase(height, block_subsidy(height) + fees + extra_value,
                                   extra_script_sig=script_int(self.counter), extra_outputs=extra_outputs,
                                   height_push=kw.pop("height_push", None))
        timestamp = kw.pop("timestamp", max(parent["mediantime"] + 1, int(time.time())))
        return create_block(parent["hash"], timestamp, coinbase, txs, **kw)

    def submit(self, block, expected):
        """submitblock must return `expected`; a rejected block leaves the tip alone."""
        before = self.rpc.getbestblockhash()
        assert_equal(self.rpc.submitblock(block.hex()), expected)
        if expected is None:
            assert_equal(self.rpc.getbestblockhash(), block.hash())
        else:
            assert_equal(self.rpc.getbestblockhash(), before)

    def coin(self):
        """A fresh mature 50 BTC coinbase output (txid) paying P2WSH(OP_TRUE)."""
        self.next_coin += 1
        return coinbase_txid(self.rpc, self.next_coin)

    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = self.rpc = node.rpc
        self.counter = 0
        self.next_coin = 0
        rpc.generatetoaddress(120, ADDR)

        self.log("a valid block with version 4, then the same block again: null, duplicate")
        spend = spend_op_true(self.coin(), 0, 50 * COIN, fee=10_000)
        block = self.build([spend], fees=10_000, version=4).solve()
        self.submit(block, None)
        assert_equal(rpc.getblock(block.hash())["tx"], [t.txid() for t in block.txs])
        self.submit(block, "duplicate")

        self.log("context-free checks: high-hash, bad-txnmrklroot, bad-blk-sigops (legacy count)")
        self.submit(self.build().solve(valid_pow=False), "high-hash")
        block = self.build([spend_op_true(self.coin(), 0, 50 * COIN)], fees=1000)
        block.merkle_root = dsha256(b"not the merkle root")
        self.submit(block.solve(), "bad-txnmrklroot")
        too_many = MAX_LEGACY_SIGOPS_SCRIPT + b"\xac"  # one sigop over the limit
        self.submit(self.build(extra_outputs=[(0, too_many)]).solve(), "bad-blk-sigops")

        self.log("header checks: bad-diffbits, time-too-old, time-too-new, bad-version")
        self.submit(self.build(bits=0x207ffffe).solve(), "bad-diffbits")
        tip = self.tip()
        self.submit(self.build(timestamp=tip["mediantime"]).solve(), "time-too-old")
        self.submit(self.build(timestamp=tip["mediantime"] - 1000).solve(), "time-too-old")
        future = int(time.time()) + MAX_FUTURE_BLOCK_TIME + 600
        self.submit(self.build(timestamp=future).solve(), "time-too-new")
        for version in (0, 1, 2, 3):
            self.submit(self.build(version=version).solve(), "bad-version(0x%08x)" % version)
        self.submit(self.build(timestamp=tip["mediantime"] + 1).solve(), None)
        self.submit(self.build(timestamp=int(time.time()) + MAX_FUTURE_BLOCK_TIME - 600).solve(), None)

        self.log("BIP34: bad-cb-height")
        height = self.tip()["height"] + 1
        self.submit(self.build(height_push=script_int(height + 1)).solve(), "bad-cb-height")
        self.submit(self.build(height_push=script_int(height - 1)).solve(), "bad-cb-height")
        # The height as a non-minimal push (4 bytes) is not CScript() << height.
        self.submit(self.build(height_push=script_push(height.to_bytes(4, "little"))).solve(), "bad-cb-height")

        self.log("witness commitment: unexpected-witness, bad-witness-nonce-size, bad-witness-merkle-match")
        wcoin = self.coin()
        wspend = spend_op_true(wcoin, 0, 50 * COIN, fee=1000)
        self.submit(self.build([wspend], fees=1000, witness_commitment=False).solve(), "unexpected-witness")
        block = self.build(witness_commitment=False)
        block.txs[0].set_witness(0, [b"\x00" * 32])  # a coinbase witness without a commitment
        self.submit(block.solve(), "unexpected-witness")
        for stack in ([b"\x00" * 31], [b"\x00" * 33], [b"\x00" * 32, b"\x00" * 32]):
            block = self.build([wspend], fees=1000)
            block.txs[0].set_witness(0, stack)
            self.submit(block.solve(), "bad-witness-nonce-size")
        block = self.build([wspend], fees=1000)
        block.txs[0].set_witness(0, [b"\x01" * 32])  # not the value committed to
        self.submit(block.solve(), "bad-witness-merkle-match")
        # The commitment covers wspend; the block carries wspend's txid with another witness.
        block = self.build([wspend], fees=1000)
        malleated = spend_op_true(wcoin, 0, 50 * COIN, fee=1000, witness=[b"\x51", b"\x51"])
        assert_equal(malleated.txid(), wspend.txid())
        block.txs[1] = malleated
        self.submit(block.solve(), "bad-witness-merkle-match")
        block = self.build([wspend], fees=1000)
        outputs = block.txs[0].outputs
        outputs[-1] = (0, outputs[-1][1][:-1] + bytes([outputs[-1][1][-1] ^ 1]))  # flip a commitment bit
        self.submit(block.solve(), "bad-witness-merkle-match")
        # Of several commitment-shaped outputs the last one counts: a bogus one after the
        # right one is a mismatch, a bogus one before it is ignored.
        bogus = (0, WITNESS_COMMITMENT_PREFIX + b"\x00" * 32)
        block = self.build([wspend], fees=1000)
        block.txs[0].outputs.append(bogus)
        self.submit(block.solve(), "bad-witness-merkle-match")
        other = spend_op_true(self.coin(), 0, 50 * COIN, fee=1000)
        block = self.build([other], fees=1000)
        block.txs[0].outputs.insert(1, bogus)
        self.submit(block.solve(), None)
        self.submit(self.build([wspend], fees=1000).solve(), None)  # and at last the right block

        self.log("connect checks: bad-txns-inputs-missingorspent, bad-cb-amount")
        missing = spend_op_true("11" * 32, 0, 50 * COIN, fee=1000)
        self.submit(self.build([missing], fees=1000).solve(), "bad-txns-inputs-missingorspent")
        self.submit(self.build([wspend], fees=1000).solve(), "bad-txns-inputs-missingorspent")  # mined already
        fund = spend_op_true(self.coin(), 0, 50 * COIN, outputs=[(50 * COIN - 10_000, P2WSH_SIGOP)])
        self.submit(self.build([fund], fees=10_000, extra_value=1).solve(), "bad-cb-amount")
        self.submit(self.build(extra_value=1).solve(), "bad-cb-amount")
        self.submit(self.build([fund], fees=10_000).solve(), None)  # exactly subsidy + fees

        self.log("bad-blk-sigops counting witness sigops at connect; exactly 80000 is allowed")
        sigop_spend = Tx([(fund.txid(), 0, 0xffffffff, [SIGOP_SCRIPT])], [(50 * COIN - 20_000, P2WSH_OP_TRUE)])
        block = self.build([sigop_spend], fees=10_000, extra_outputs=[(0, MAX_LEGACY_SIGOPS_SCRIPT)])
        self.submit(block.solve(), "bad-blk-sigops")
        self.submit(self.build(extra_outputs=[(0, MAX_LEGACY_SIGOPS_SCRIPT)]).solve(), None)
        self.submit(self.build([sigop_spend], fees=10_000).solve(), None)

        self.log("a valid block off the best chain: inconclusive, then duplicate")
        tip = self.tip()
        parent = rpc.getblockheader(tip["previousblockhash"])
        side = self.build(parent=parent).solve()
        self.submit(side, "inconclusive")
        assert_equal(rpc.getblockheader(side.hash())["confirmations"], -1)
        assert_equal({t["hash"]: t["status"] for t in rpc.getchaintips()}[side.hash()], "valid-headers")
        self.submit(side, "duplicate")

        self.conflict_eviction()
        self.fill_in_witness_nonce()
        node.stop()

    def fill_in_witness_nonce(self):
        # Last, as no other case depends on it. Core's submitblock calls
        # UpdateUncommittedBlockStructures before ProcessNewBlock: a block with a witness
        # commitment whose coinbase has no witness gets the 32-byte zero reserved value.
        self.log("submitblock fills in a missing coinbase witness reserved value, as Core's does")
        tx = spend_op_true(self.coin(), 0, 50 * COIN, fee=1000)
        block = self.build([tx], fees=1000)
        block.txs[0].set_witness(0, [])
        self.submit(block.solve(), None)
        coinbase = self.rpc.getblock(block.hash(), 2)["tx"][0]
        assert_equal(coinbase["vin"][0]["txinwitness"], ["00" * 32])
        # Also with no witness transaction at all: the commitment alone triggers it.
        block = self.build(witness_commitment=True)
        block.txs[0].set_witness(0, [])
        self.submit(block.solve(), None)

    def conflict_eviction(self):
        rpc = self.rpc
        self.log("conflict eviction: a block's conflicting spend evicts the mempool transaction and its descendants")
        coin = self.coin()
        a = spend_op_true(coin, 0, 50 * COIN, fee=1000)
        a_child = spend_op_true(a.txid(), 0, 50 * COIN - 1000, fee=1000)
        a_grandchild = spend_op_true(a_child.txid(), 0, 50 * COIN - 2000, fee=1000)
        unrelated = spend_op_true(self.coin(), 0, 50 * COIN, fee=1000)
        for t in (a, a_child, a_grandchild, unrelated):
            rpc.sendrawtransaction(t.hex())
        assert_equal(set(rpc.getrawmempool()), {a.txid(), a_child.txid(), a_grandchild.txid(), unrelated.txid()})
        conflict = spend_op_true(coin, 0, 50 * COIN, fee=5000)
        block_hash = rpc.generateblock(ADDR, [conflict.hex()])["hash"]
        assert_equal(rpc.getblock(block_hash)["tx"][1], conflict.txid())
        assert_equal(rpc.getrawmempool(), [unrelated.txid()])
        for t in (a, a_child, a_grandchild):
            assert_raises_rpc_error(-5, "Transaction not in mempool", rpc.getmempoolentry, t.txid())
        assert_equal(rpc.gettxout(conflict.txid(), 0)["confirmations"], 1)
        assert_equal(rpc.getmempoolentry(unrelated.txid())["descendantcount"], 1)

        self.log("conflict eviction in mid-chain: the parent is mined, the child's conflict evicts child and grandchild")
        parent = spend_op_true(self.coin(), 0, 50 * COIN, fee=1000)
        child = spend_op_true(parent.txid(), 0, 50 * COIN - 1000, fee=1000)
        grandchild = spend_op_true(child.txid(), 0, 50 * COIN - 2000, fee=1000)
        for t in (parent, child, grandchild):
            rpc.sendrawtransaction(t.hex())
        other_child = spend_op_true(parent.txid(), 0, 50 * COIN - 1000, fee=3000)
        block_hash = rpc.generateblock(ADDR, [parent.hex(), other_child.hex()])["hash"]
        assert_equal(rpc.getblock(block_hash)["tx"][1:], [parent.txid(), other_child.txid()])
        assert_equal(rpc.getrawmempool(), [unrelated.txid()])
        assert_equal(rpc.getmempoolinfo()["size"], 1)

        self.log("the mined conflict frees nothing: the evicted transactions stay invalid")
        assert_raises_rpc_error(-25, "bad-txns-inputs-missingorspent", rpc.sendrawtransaction, a.hex())
        assert_raises_rpc_error(-25, "bad-txns-inputs-missingorspent", rpc.sendrawtransaction, child.hex())


if __name__ == "__main__":
    BlockRejectsTest().main()
