#!/usr/bin/env python3
"""Wallet encryption: createwallet with a passphrase, encryptwallet, walletpassphrase with
its timeout, walletlock, walletpassphrasechange, Core's error codes, keys encrypted at rest
(no private key in the file), and locking across a restart."""

import os
import time
from decimal import Decimal

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal, assert_raises_rpc_error, ADDRESS_BCRT1_P2WSH_OP_TRUE as BURN

WALLET_ARGS = ["-fallbackfee=0.0002", "-keypool=50"]
LOCKED = "Error: Please enter the wallet passphrase with walletpassphrase first."


class WalletEncryptionTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start(WALLET_ARGS)
        rpc = node.rpc
        rpc.createwallet(wallet_name="enc", load_on_startup=True)
        w = node.get_wallet_rpc("enc")
        rpc.generatetoaddress(1, w.getnewaddress())
        rpc.generatetoaddress(100, BURN)
        assert_equal(w.getbalance(), Decimal(50))

        self.log("calls that need an encrypted wallet fail on a plain one")
        assert_raises_rpc_error(-15, "Error: running with an unencrypted wallet, but walletpassphrase was called.", w.walletpassphrase, "x", 10)
        assert_raises_rpc_error(-15, "Error: running with an unencrypted wallet, but walletlock was called.", w.walletlock)
        assert_raises_rpc_error(-15, "Error: running with an unencrypted wallet, but walletpassphrasechange was called.", w.walletpassphrasechange, "a", "b")
        assert "unlocked_until" not in w.getwalletinfo()

        self.log("encryptwallet locks the wallet")
        assert_raises_rpc_error(-8, "passphrase cannot be empty", w.encryptwallet, "")
        w.encryptwallet("s3cret")
        assert_equal(w.getwalletinfo()["unlocked_until"], 0)
        assert_raises_rpc_error(-15, "Error: running with an encrypted wallet, but encryptwallet was called.", w.encryptwallet, "again")
        # Public derivation still works; spending and private listing do not.
        addr = w.getnewaddress()
        assert_raises_rpc_error(-13, LOCKED, w.sendtoaddress, addr, 1)
        assert_raises_rpc_error(-13, LOCKED, w.listdescriptors, True)
        assert_raises_rpc_error(-13, LOCKED, w.signrawtransactionwithwallet, rpc.createrawtransaction([], {addr: 1}))

        self.log("no private key is stored in the clear")
        wdir = os.path.join(node.chaindir, "wallets", "enc")
        for name in os.listdir(wdir):
            with open(os.path.join(wdir, name), "rb") as f:
                assert b"tprv" not in f.read(), name

        self.log("walletpassphrase: wrong passphrase, negative timeout, timed unlock")
        assert_raises_rpc_error(-14, "Error: The wallet passphrase entered was incorrect.", w.walletpassphrase, "wrong", 10)
        assert_raises_rpc_error(-8, "Timeout cannot be negative.", w.walletpassphrase, "s3cret", -1)
        w.walletpassphrase("s3cret", 2)
        until = w.getwalletinfo()["unlocked_until"]
        assert until >= time.time() and until <= time.time() + 3
        txid = w.sendtoaddress(addr, 1)
        assert txid in rpc.getrawmempool()
        assert any("tprv" in d["desc"] for d in w.listdescriptors(True)["descriptors"])
        time.sleep(2.2)
        assert_raises_rpc_error(-13, LOCKED, w.sendtoaddress, addr, 1)

        self.log("a zero timeout relocks at once, as in Core")
        w.walletpassphrase("s3cret", 0)
        assert_raises_rpc_error(-13, LOCKED, w.sendtoaddress, addr, 1)

        self.log("walletlock ends an unlock early")
        w.walletpassphrase("s3cret", 100)
        w.walletlock()
        assert_raises_rpc_error(-13, LOCKED, w.sendtoaddress, addr, 1)

        self.log("walletpassphrasechange")
        assert_raises_rpc_error(-14, "Error: The wallet passphrase entered was incorrect.", w.walletpassphrasechange, "nope", "new")
        w.walletpassphrasechange("s3cret", "n3w")
        assert_raises_rpc_error(-14, "Error: The wallet passphrase entered was incorrect.", w.walletpassphrase, "s3cret", 10)
        w.walletpassphrase("n3w", 10)
        w.sendtoaddress(addr, 1)

        self.log("restart: still encrypted and locked; the new passphrase works")
        node.stop()
        node.start(WALLET_ARGS)
        w = node.get_wallet_rpc("enc")
        assert_equal(w.getwalletinfo()["unlocked_until"], 0)
        assert_raises_rpc_error(-13, LOCKED, w.sendtoaddress, addr, 1)
        w.walletpassphrase("n3w", 10)
        w.sendtoaddress(addr, 1)

        self.log("createwallet with a passphrase starts encrypted and locked")
        rpc = node.rpc
        res = rpc.createwallet(wallet_name="enc2", passphrase="pw")
        assert_equal(res, {"name": "enc2"})
        w2 = node.get_wallet_rpc("enc2")
        assert_equal(w2.getwalletinfo()["unlocked_until"], 0)
        assert_raises_rpc_error(-13, LOCKED, w2.listdescriptors, True)
        w2.walletpassphrase("pw", 5)
        assert_equal(len(w2.listdescriptors(True)["descriptors"]), 8)
        assert_raises_rpc_error(-4, "Passphrase provided but private keys are disabled", rpc.createwallet, "enc3", True, False, "pw")
        node.stop()


if __name__ == "__main__":
    WalletEncryptionTest().main()
