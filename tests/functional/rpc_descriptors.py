#!/usr/bin/env python3
"""Descriptors with Core's semantics: getdescriptorinfo, deriveaddresses (ranged),
generatetodescriptor and scantxoutset, using vectors from Core's descriptor_tests.cpp."""

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal, assert_raises_rpc_error

TPRV_RANGED = "wpkh(tprv8cxhcuQZtLhUA6nNEZeCcfzPCWcwZRFKc5xF7bvoQf4hjeq5nWr9wDpVYViSkK71QQpz9sNcxxpMzeZQ5Lc4phD2setFVsYZfkBUMsgR3x8/1/2/*)"
TPUB_RANGED = "wpkh([ffffffff/13']tpubD9ejmKSp2iP93ZpA8DJo25eVmY8sikSEBPZ2Q7y6pvs6a95rQufk7iSMidGtU64UDaTmPu5c4uJpTQVQ3rfqT2ZsshbJtaYuqutBhMEvKgw/1/2/*)"
RANGED_SCRIPTS = [
    "0014326b2249e3a25d5dc60935f044ee835d090ba859",
    "0014af0bd98abc2f2cae66e36896a39ffe2d32984fb7",
    "00141fa798efd1cbf95cebf912c031b8a4a6e9fb9f27",
]
COMBO = "combo(tpubDEnoLuPdBep9bzw5LoGYpsxUQYheRQ9gcgrJhJEcdKFB9cWQRyYmkCyRoTqeD4tJYiVVgt6A3rN6rWn9RYhR9sBsGxji29LYWHuKKbdb1ev)"
COMBO_SCRIPTS = [
    "76a91431a507b815593dfc51ffc7245ae7e5aee304246e88ac",
    "001431a507b815593dfc51ffc7245ae7e5aee304246e",
    "a9142aafb926eb247cb18240a7f4c07983ad1f37922687",
]
HARDENED_PUB = "pkh(tpubD6NzVbkrYhZ4XJDrzRvuxHEyQaPd1mwwdDofEJwekX18tAdsqeKfxss79AJzg1431FybXg5rfpTrJF4iAhyR7RubberdzEQXiRmXGADH2eA/2147483647'/0)"
# Core's sh(multi()) checksum vector with its two xprvs re-encoded for test chains (Core
# decodes keys with the chain's prefixes, so the mainnet originals are not valid here).
MULTI_BODY = ("sh(multi(2,[00000000/111'/222]tprv8i6mCVMP3H8UiXuHT9bxRUJMqXBiG4xn3PFXQnCKD3SnK8FdoajBZiMZdM8S8hRUAAoGz1RdotaGZiAhNYe56K94G6BiFhGqGuxFfgKQPiw,"
              "tprv8c4A69Yk5hEjpRjdrK6cp7bZQYpAmALDAkDPAKckYFCuGwjqStWup7GUkkXAQDpRXbuKqjSs5xmQeLB3KhqCRhkWptwt3yzbx4tvbt53nTu/0))")
MULTI_PUBLIC = ("sh(multi(2,[00000000/111'/222]tpubDEnoLuPdBep9bzw5LoGYpsxUQYheRQ9gcgrJhJEcdKFB9cWQRyYmkCyRoTqeD4tJYiVVgt6A3rN6rWn9RYhR9sBsGxji29LYWHuKKbdb1ev,"
                "tpubD8kCEZazE4vQhtmRjxmDDXFfyaL6vVX7k3pASqf3xX1J7Rzc5HLVzbtLvsgVDxERNiEJ8dibuSVCN1dxwex371qgPzhkGeMAzKe8T7ivSof/0))#xuly7n6p")
MAINNET_XPRV = "xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc"
XONLY = "a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd"
KEY1 = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
KEY2 = "03774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb"


class DescriptorsTest(HashviveTestFramework):
    def spk(self, address):
        return self.nodes[0].rpc.validateaddress(address)["scriptPubKey"]

    def coinbase_spk(self, blockhash):
        return self.nodes[0].rpc.getblock(blockhash, 2)["tx"][0]["vout"][0]["scriptPubKey"]["hex"]

    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc

        self.log("getdescriptorinfo: private keys become public, checksum of the input")
        info = rpc.getdescriptorinfo(TPRV_RANGED)
        assert_equal((info["isrange"], info["issolvable"], info["hasprivatekeys"]), (True, True, True))
        assert info["descriptor"].startswith("wpkh(tpubD9ejmKSp2iP93ZpA8DJo25eVmY8sikSEBPZ2Q7y6pvs6a95rQufk7iSMidGtU64UDaTmPu5c4uJpTQVQ3rfqT2ZsshbJtaYuqutBhMEvKgw/1/2/*)#")
        assert info["descriptor"].split("#")[1] != info["checksum"]
        info = rpc.getdescriptorinfo(MULTI_BODY + "#w50vdecm")
        assert_equal(info["checksum"], "w50vdecm")
        assert_equal(info["descriptor"], MULTI_PUBLIC)
        info = rpc.getdescriptorinfo(f"wsh(and_v(v:pk({KEY1}),older(144)))")
        assert_equal((info["isrange"], info["issolvable"], info["hasprivatekeys"]), (False, True, False))
        h = rpc.getdescriptorinfo(TPUB_RANGED.replace("'", "h"))
        assert h["descriptor"].startswith("wpkh([ffffffff/13h]")
        assert rpc.getdescriptorinfo(TPUB_RANGED)["descriptor"].startswith("wpkh([ffffffff/13']")

        self.log("checksum and parse errors")
        assert_raises_rpc_error(-5, "Provided checksum 'w50vdecn' does not match computed checksum 'w50vdecm'",
                                rpc.getdescriptorinfo, MULTI_BODY + "#w50vdecn")
        assert_raises_rpc_error(-5, "Expected 8 character checksum, not 7 characters",
                                rpc.getdescriptorinfo, MULTI_BODY + "#w50vdec")
        assert_raises_rpc_error(-5, f"key '{MAINNET_XPRV}' is not valid",
                                rpc.getdescriptorinfo, f"wpkh({MAINNET_XPRV}/0)")
        assert_raises_rpc_error(-5, "'foo(...)' is not a valid descriptor function", rpc.getdescriptorinfo, "foo(1)")
        assert_raises_rpc_error(-5, "Can only have wpkh() at top level or inside sh()", rpc.getdescriptorinfo, f"wsh(wpkh({KEY1}))")
        assert_raises_rpc_error(-5, None, rpc.getdescriptorinfo, "wpkh(02zz)")
        assert_raises_rpc_error(-5, None, rpc.getdescriptorinfo, "wsh(and_v(pk(02zz),older(1)))")

        self.log("deriveaddresses over a range matches Core's scripts")
        ranged = rpc.getdescriptorinfo(TPUB_RANGED)["descriptor"]
        addrs = rpc.deriveaddresses(ranged, [0, 2])
        assert_equal([self.spk(a) for a in addrs], RANGED_SCRIPTS)
        assert all(a.startswith("bcrt1q") for a in addrs)
        assert_equal(rpc.deriveaddresses(ranged, 2), addrs)
        assert_equal(rpc.deriveaddresses(ranged, [1, 1]), addrs[1:2])
        # The private form derives the same addresses.
        assert_equal(rpc.deriveaddresses(rpc.getdescriptorinfo(TPRV_RANGED)["descriptor"], 2), addrs)
        assert_raises_rpc_error(-8, "Range must be specified for a ranged descriptor", rpc.deriveaddresses, ranged)
        assert_raises_rpc_error(-8, "Range specified as [begin,end] must not have begin after end", rpc.deriveaddresses, ranged, [2, 1])
        assert_raises_rpc_error(-8, "Range should be greater or equal than 0", rpc.deriveaddresses, ranged, [-1, 1])
        assert_raises_rpc_error(-8, "Range is too large", rpc.deriveaddresses, ranged, [0, 1000000])
        assert_raises_rpc_error(-8, "Range should not be specified for an un-ranged descriptor",
                                rpc.deriveaddresses, rpc.getdescriptorinfo(f"wpkh({KEY1})")["descriptor"], 1)
        assert_raises_rpc_error(-5, "Missing checksum", rpc.deriveaddresses, TPUB_RANGED, 1)
        assert_raises_rpc_error(-5, "Cannot derive script without private keys",
                                rpc.deriveaddresses, rpc.getdescriptorinfo(HARDENED_PUB)["descriptor"])

        self.log("combo(): P2PKH, P2WPKH and P2SH-P2WPKH addresses (P2PK has none)")
        combo = rpc.getdescriptorinfo(COMBO)["descriptor"]
        assert_equal([self.spk(a) for a in rpc.deriveaddresses(combo)], COMBO_SCRIPTS)

        self.log("tr(): key path and script tree")
        tr_key = rpc.getdescriptorinfo(f"tr({XONLY})")
        tr_tree = rpc.getdescriptorinfo(f"tr({XONLY},{{pk({KEY1}),pk({KEY2})}})")
        assert_equal(tr_tree["descriptor"].split("#")[0], f"tr({XONLY},{{pk({KEY1}),pk({KEY2})}})")
        a_key = rpc.deriveaddresses(tr_key["descriptor"])[0]
        a_tree = rpc.deriveaddresses(tr_tree["descriptor"])[0]
        assert a_key.startswith("bcrt1p") and a_tree.startswith("bcrt1p") and a_key != a_tree

        self.log("generatetodescriptor pays to the descriptor's script")
        h = rpc.generatetodescriptor(1, COMBO)[0]
        assert_equal(self.coinbase_spk(h), COMBO_SCRIPTS[1])  # Core picks P2WPKH from combo()
        h = rpc.generatetodescriptor(1, f"tr({XONLY},{{pk({KEY1}),pk({KEY2})}})")[0]
        assert_equal(self.coinbase_spk(h), self.spk(a_tree))
        h = rpc.generatetodescriptor(1, TPUB_RANGED.replace("/*", "/1"))[0]
        assert_equal(self.coinbase_spk(h), RANGED_SCRIPTS[1])
        assert_raises_rpc_error(-8, "Ranged descriptor not accepted. Maybe pass through deriveaddresses first?",
                                rpc.generatetodescriptor, 1, TPUB_RANGED)
        assert_raises_rpc_error(-5, "Provided checksum", rpc.generatetodescriptor, 1, f"tr({XONLY})#aaaaaaaa")
        rpc.generatetoaddress(1, addrs[2])

        self.log("scantxoutset expands ranged descriptors and reports derived origins")
        res = rpc.scantxoutset("start", [TPUB_RANGED])
        assert_equal(sorted(u["scriptPubKey"] for u in res["unspents"]), sorted(RANGED_SCRIPTS[1:]))
        descs = sorted(u["desc"] for u in res["unspents"])
        assert descs[0].startswith("wpkh([ffffffff/13h/1/2/1]"), descs
        assert descs[1].startswith("wpkh([ffffffff/13h/1/2/2]"), descs
        res = rpc.scantxoutset("start", [{"desc": TPUB_RANGED, "range": [2, 5]}])
        assert_equal([u["scriptPubKey"] for u in res["unspents"]], [RANGED_SCRIPTS[2]])
        res = rpc.scantxoutset("start", [COMBO, f"tr({XONLY},{{pk({KEY1}),pk({KEY2})}})"])
        assert_equal(len(res["unspents"]), 2)
        assert_raises_rpc_error(-8, "Descriptor needs to be provided in scan object", rpc.scantxoutset, "start", [{"range": 1}])
        assert_raises_rpc_error(-5, "Cannot derive script without private keys", rpc.scantxoutset, "start", [HARDENED_PUB])
        assert_equal(len(rpc.scantxoutset("start", [f"addr({ADDR})"])["unspents"]), 0)


if __name__ == "__main__":
    DescriptorsTest().main()
