#!/usr/bin/env python3
"""Wallet basics: create/load/unload/list, routing errors, addresses of every type,
labels, coinbase maturity in balances, two wallets paying each other (sendtoaddress,
sendmany, subtractfeefromamount, fee_rate), listunspent, listtransactions,
gettransaction, received-by RPCs, lockunspent, abandontransaction, backup/restore,
listwalletdir, -wallet and load_on_startup across restarts, -disablewallet."""

import json
import os
from decimal import Decimal

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal, assert_raises_rpc_error, ADDRESS_BCRT1_P2WSH_OP_TRUE as BURN

WALLET_ARGS = ["-fallbackfee=0.0002", "-keypool=200"]


class WalletBasicTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start(WALLET_ARGS)
        rpc = node.rpc

        self.log("no wallet loaded: -18, and listwallets is empty")
        assert_equal(rpc.listwallets(), [])
        assert_raises_rpc_error(-18, "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)", rpc.getbalance)

        self.log("createwallet, getwalletinfo, routing with one and two wallets")
        assert_equal(rpc.createwallet("alice"), {"name": "alice"})
        assert_equal(rpc.getbalance(), Decimal(0))  # one wallet: plain URL works
        assert_raises_rpc_error(-4, "Database already exists", rpc.createwallet, "alice")
        assert_equal(rpc.createwallet(wallet_name="bob", load_on_startup=True), {"name": "bob"})
        assert_raises_rpc_error(-19, "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).", rpc.getbalance)
        assert_raises_rpc_error(-18, "Requested wallet does not exist or is not loaded", node.get_wallet_rpc("carol").getbalance)
        alice = node.get_wallet_rpc("alice")
        bob = node.get_wallet_rpc("bob")
        assert_equal(sorted(rpc.listwallets()), ["alice", "bob"])
        info = alice.getwalletinfo()
        assert_equal(info["walletname"], "alice")
        assert_equal(info["format"], "sqlite")
        assert_equal(info["descriptors"], True)
        assert_equal(info["private_keys_enabled"], True)
        assert_equal(info["keypoolsize"], 4 * 200)
        assert_equal(info["keypoolsize_hd_internal"], 4 * 200)
        assert_equal(info["scanning"], False)
        assert_equal(info["lastprocessedblock"]["height"], 0)

        self.log("addresses of every type, getaddressinfo, labels")
        prefixes = {"legacy": ("m", "n"), "p2sh-segwit": ("2",), "bech32": ("bcrt1q",), "bech32m": ("bcrt1p",)}
        for t, pre in prefixes.items():
            a = alice.getnewaddress("", t)
            assert a.startswith(pre), (t, a)
            ai = alice.getaddressinfo(a)
            assert_equal(ai["ismine"], True)
            assert_equal(ai["solvable"], True)
            assert_equal(ai["ischange"], False)
            assert "hdkeypath" in ai and ai["hdkeypath"].endswith("/0/0"), ai
        assert_raises_rpc_error(-5, "Unknown address type 'foo'", alice.getnewaddress, "", "foo")
        assert_raises_rpc_error(-11, "Invalid label name", alice.getnewaddress, "*")
        change = alice.getrawchangeaddress()
        assert_equal(alice.getaddressinfo(change)["ischange"], True)
        assert_equal(alice.getaddressinfo(change)["hdkeypath"], "m/84h/1h/0h/1/0")
        assert_equal(alice.getaddressinfo(BURN)["ismine"], False)
        assert_raises_rpc_error(-5, "Invalid address", alice.getaddressinfo, "notanaddress")
        labelled = alice.getnewaddress("savings")
        assert_equal(alice.getaddressinfo(labelled)["labels"], ["savings"])
        alice.setlabel(labelled, "rainy day")
        assert_equal(alice.getaddressesbylabel("rainy day"), {labelled: {"purpose": "receive"}})
        assert_equal(alice.listlabels(), ["", "rainy day"])
        assert_raises_rpc_error(-11, "No addresses with label nope", alice.getaddressesbylabel, "nope")

        self.log("coinbase maturity: immature, then trusted after 100 more blocks")
        mine_addr = alice.getnewaddress()
        rpc.generatetoaddress(1, mine_addr)
        assert_equal(alice.getbalances()["mine"], {"trusted": Decimal(0), "untrusted_pending": Decimal(0), "immature": Decimal(50)})
        txs = alice.listtransactions()
        assert_equal(txs[-1]["category"], "immature")
        rpc.generatetoaddress(99, BURN)
        assert_equal(alice.getbalance(), Decimal(0))
        rpc.generatetoaddress(1, BURN)
        assert_equal(alice.getbalances()["mine"]["trusted"], Decimal(50))
        assert_equal(alice.getbalances()["mine"]["immature"], Decimal(0))
        assert_equal(alice.listtransactions()[-1]["category"], "generate")
        assert_equal(alice.getreceivedbyaddress(mine_addr), Decimal(50))
        assert_equal(alice.getreceivedbyaddress(mine_addr, 102), Decimal(0))
        rpc.generatetoaddress(5, mine_addr)  # five more coinbases, immature
        rpc.generatetoaddress(100, BURN)     # now mature: 300 BTC
        assert_equal(alice.getbalance(), Decimal(300))

        self.log("alice pays bob: sendtoaddress with a comment, gettransaction on both sides")
        bob_addr = bob.getnewaddress("from alice")
        txid = alice.sendtoaddress(bob_addr, Decimal("10"), "rent", "bob")
        assert txid in rpc.getrawmempool()
        # Bob hears of it through the notification queue (Core's tests sync the same way).
        rpc.syncwithvalidationinterfacequeue()
        assert_equal(bob.getbalances()["mine"]["untrusted_pending"], Decimal(10))
        assert_equal(bob.getbalance(), Decimal(0))
        at = alice.gettransaction(txid)
        assert_equal(at["amount"], Decimal("-10"))
        assert at["fee"] < 0
        assert_equal(at["comment"], "rent")
        assert_equal(at["to"], "bob")
        assert_equal(at["confirmations"], 0)
        assert_equal(at["trusted"], True)
        assert_equal(at["bip125-replaceable"], "yes")
        assert_equal([d["category"] for d in at["details"]], ["send"])
        fee = -at["fee"]
        assert_equal(alice.getbalance(), Decimal(300) - 10 - fee)
        bt = bob.gettransaction(txid)
        assert_equal(bt["amount"], Decimal(10))
        assert "fee" not in bt
        assert_equal(bt["details"], [{"address": bob_addr, "category": "receive", "amount": Decimal(10), "label": "from alice", "vout": bt["details"][0]["vout"]}])
        assert_equal(bt["trusted"], False)
        # The fee matches the fallback feerate (20 sat/vB) for the signed size.
        vsize = rpc.getmempoolentry(txid)["vsize"]
        assert_equal(fee, Decimal(vsize * 20) / Decimal(1e8))
        assert_raises_rpc_error(-5, "Invalid or non-wallet transaction id", bob.gettransaction, "00" * 32)
        blockhash = rpc.generatetoaddress(1, BURN)[0]
        assert_equal(bob.getbalance(), Decimal(10))
        bt = bob.gettransaction(txid)
        assert_equal((bt["confirmations"], bt["blockhash"], bt["blockheight"]), (1, blockhash, rpc.getblockcount()))
        assert_equal(bob.getreceivedbyaddress(bob_addr), Decimal(10))
        rba = bob.listreceivedbyaddress()
        assert_equal([(r["address"], r["amount"], r["label"], r["txids"]) for r in rba], [(bob_addr, Decimal(10), "from alice", [txid])])
        assert_equal(len(bob.listreceivedbyaddress(0, True)), 1)
        assert_raises_rpc_error(-4, "Address not found in wallet", bob.getreceivedbyaddress, BURN)

        self.log("by-label received amounts, settxfee, keypoolrefill")
        assert_equal(bob.getreceivedbylabel("from alice"), Decimal(10))
        assert_raises_rpc_error(-4, "Label not found in wallet", bob.getreceivedbylabel, "nope")
        assert_equal(bob.listreceivedbylabel(), [{"amount": Decimal(10), "confirmations": 1, "label": "from alice"}])
        bob.getnewaddress("unused")
        assert_equal(bob.listreceivedbylabel(0, True)[1], {"amount": Decimal(0), "confirmations": 0, "label": "unused"})
        assert bob.settxfee(Decimal("0.0005"))
        assert_equal(bob.getwalletinfo()["paytxfee"], Decimal("0.0005"))
        assert_raises_rpc_error(-8, "txfee cannot be less than min relay tx fee", bob.settxfee, Decimal("0.000001"))
        t_pay = bob.sendtoaddress(alice.getnewaddress(), 1)
        e = rpc.getmempoolentry(t_pay)
        assert_equal(e["fees"]["base"], Decimal(e["vsize"] * 50) / Decimal(1e8))
        assert bob.settxfee(0)
        bob.keypoolrefill(300)
        assert_equal(bob.getwalletinfo()["keypoolsize"], 4 * 300)

        self.log("bob pays back with sendmany, subtractfeefrom and an explicit fee_rate")
        a1, a2 = alice.getnewaddress(), alice.getnewaddress("", "bech32m")
        txid2 = bob.sendmany("", {a1: 3, a2: Decimal("2.5")}, 0, "split", [a1], None, None, None, 7)
        tx2 = bob.gettransaction(txid2, False, True)
        decoded = tx2["decoded"]
        entry = rpc.getmempoolentry(txid2)
        assert_equal(entry["fees"]["base"], Decimal(entry["vsize"] * 7) / Decimal(1e8))
        values = {o["scriptPubKey"]["address"]: o["value"] for o in decoded["vout"]}
        assert_equal(values[a2], Decimal("2.5"))
        assert_equal(values[a1], Decimal(3) - entry["fees"]["base"])
        assert_raises_rpc_error(-8, "Dummy value must be set to \"\"", bob.sendmany, "x", {a1: 1})
        assert_raises_rpc_error(-6, "Insufficient funds", bob.sendtoaddress, a1, 100)
        assert_raises_rpc_error(-5, "Invalid Bitcoin address", bob.sendtoaddress, "bad", 1)
        assert_raises_rpc_error(-3, "Invalid amount for send", bob.sendtoaddress, a1, 0)
        assert_raises_rpc_error(-8, "Cannot specify both conf_target and fee_rate", bob.sendtoaddress, a1, 1, "", "", False, True, 6, "unset", False, 5)
        # Subtracting the fee leaves the wallet empty of that amount exactly.
        bob_bal = bob.getbalance()
        txid3 = bob.sendtoaddress(address=a1, amount=Decimal(1), subtractfeefromamount=True)
        assert_equal(bob.getbalance(), bob_bal - 1)
        rpc.generatetoaddress(1, BURN)
        assert_equal(alice.getreceivedbyaddress(a2), Decimal("2.5"))
        assert txid3 in [t["txid"] for t in alice.listtransactions("*", 100)]

        self.log("listtransactions: count, skip, label filter, argument errors")
        lt = alice.listtransactions("*", 3, 1)
        assert_equal(len(lt), 3)
        all_lt = alice.listtransactions("*", 1000)
        assert_equal(lt, all_lt[-4:-1])
        assert_equal([t["category"] for t in bob.listtransactions("from alice")], ["receive"])
        assert_raises_rpc_error(-8, "Negative count", alice.listtransactions, "*", -1)
        assert_raises_rpc_error(-8, "Negative from", alice.listtransactions, "*", 1, -1)

        self.log("listunspent filters and lockunspent")
        utxos = bob.listunspent()
        assert len(utxos) >= 1
        u = utxos[0]
        for k in ("txid", "vout", "address", "scriptPubKey", "amount", "confirmations", "spendable", "solvable", "desc", "safe"):
            assert k in u, k
        assert_equal(bob.listunspent(1, 9999999, [u["address"]])[0]["txid"], u["txid"])
        assert_raises_rpc_error(-5, "Invalid Bitcoin address: xx", bob.listunspent, 1, 10, ["xx"])
        assert_equal(bob.listunspent(0, 9999999, [], True, {"minimumAmount": 1000}), [])
        assert bob.lockunspent(False, [{"txid": u["txid"], "vout": u["vout"]}])
        assert_equal(bob.listlockunspent(), [{"txid": u["txid"], "vout": u["vout"]}])
        assert u["txid"] not in [x["txid"] for x in bob.listunspent()]
        assert_raises_rpc_error(-8, "Invalid parameter, output already locked", bob.lockunspent, False, [{"txid": u["txid"], "vout": u["vout"]}])
        assert_raises_rpc_error(-8, "Invalid parameter, unknown transaction", bob.lockunspent, False, [{"txid": "00" * 32, "vout": 0}])
        assert bob.lockunspent(True)
        assert_equal(bob.listlockunspent(), [])

        self.log("abandontransaction: only for transactions out of the mempool and chain")
        assert_raises_rpc_error(-5, "Transaction not eligible for abandonment", alice.abandontransaction, txid)
        assert_raises_rpc_error(-5, "Invalid or non-wallet transaction id", alice.abandontransaction, "11" * 32)

        self.log("unloadwallet, loadwallet, errors")
        assert_raises_rpc_error(-8, "RPC endpoint wallet and wallet_name parameter specify different wallets", alice.unloadwallet, "bob")
        assert_equal(rpc.unloadwallet("alice"), {})
        assert_raises_rpc_error(-18, "Requested wallet does not exist or is not loaded", alice.getbalance)
        assert_raises_rpc_error(-18, "Requested wallet does not exist or is not loaded", rpc.unloadwallet, "alice")
        assert_raises_rpc_error(-18, "Path does not exist", rpc.loadwallet, "nonexistent")
        # While alice was unloaded bob paid her; she catches up on load.
        bob.sendtoaddress(a1, 1)
        rpc.generatetoaddress(2, BURN)
        assert_equal(rpc.loadwallet("alice"), {"name": "alice"})
        assert_raises_rpc_error(-35, "Wallet \"alice\" is already loaded.", rpc.loadwallet, "alice")
        alice_balance = alice.getbalance()
        assert_equal(alice.getwalletinfo()["lastprocessedblock"]["height"], rpc.getblockcount())
        assert_equal(sorted(w["name"] for w in rpc.listwalletdir()["wallets"]), ["alice", "bob"])

        self.log("backupwallet and restorewallet")
        backup = os.path.join(node.datadir, "alice.bak")
        alice.backupwallet(backup)
        assert_equal(rpc.restorewallet("alice2", backup), {"name": "alice2"})
        alice2 = node.get_wallet_rpc("alice2")
        assert_equal(alice2.getbalance(), alice_balance)
        assert_equal(alice2.listdescriptors()["descriptors"], alice.listdescriptors()["descriptors"])
        assert_raises_rpc_error(-36, "Database already exists", rpc.restorewallet, "alice2", backup)
        rpc.unloadwallet("alice2")

        self.log("hashvive-cli: -rpcwallet, -generate, converted wallet arguments, help")
        code, out, err = node.cli("-rpcwallet=alice", "-generate", "2")
        assert_equal((code, err), (0, ""))
        gen = json.loads(out)
        assert_equal(len(gen["blocks"]), 2)
        assert_equal(alice.getaddressinfo(gen["address"])["ismine"], True)
        code, out, err = node.cli("-rpcwallet=alice", "listtransactions", "*", "1")
        assert_equal((code, len(json.loads(out))), (0, 1))
        code, out, err = node.cli("-rpcwallet=alice", "-named", "getbalance", "minconf=1")
        assert code == 0, err
        assert "== Wallet ==" in rpc.help()
        assert rpc.help("sendtoaddress").startswith('sendtoaddress "address" amount ( "comment" "comment_to" subtractfeefromamount')
        assert_raises_rpc_error(-1, "sendtoaddress \"address\" amount", alice.sendtoaddress)

        self.log("restart: load_on_startup (settings.json) and -wallet")
        bob_balance = bob.getbalance()
        bob_txs = bob.listtransactions("*", 1000)
        node.stop()
        node.start(WALLET_ARGS)
        assert_equal(node.rpc.listwallets(), ["bob"])
        bob = node.get_wallet_rpc("bob")
        assert_equal(bob.getbalance(), bob_balance)
        assert_equal(bob.listtransactions("*", 1000), bob_txs)
        node.stop()
        node.start(WALLET_ARGS + ["-wallet=alice", "-wallet=nonexistent"])
        assert_equal(sorted(node.rpc.listwallets()), ["alice", "bob"])
        alice = node.get_wallet_rpc("alice")
        assert_equal(alice.getbalance(), alice_balance)
        node.rpc.unloadwallet("bob", False)
        node.stop()
        node.start(WALLET_ARGS)
        assert_equal(node.rpc.listwallets(), [])

        self.log("-disablewallet removes the wallet RPCs")
        node.stop()
        node.start(WALLET_ARGS + ["-disablewallet"])
        assert_raises_rpc_error(-32601, "Method not found", node.rpc.createwallet, "x")
        node.stop()


if __name__ == "__main__":
    WalletBasicTest().main()
