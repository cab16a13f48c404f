#!/usr/bin/env python3
"""hashvive-cli: output formats, errors and exit codes, -named, -stdin, -rpcwait,
-getinfo, -generate, -rpcwallet, credentials from the cookie and the command line."""

import json
import subprocess
import time

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import ADDRESS_BCRT1_P2WSH_OP_TRUE as ADDR, assert_equal


class CliTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]

        self.log("no server: a connection error and exit code 1")
        code, out, err = node.cli("-rpcpassword=x", "getblockcount")
        assert_equal((code, out), (1, ""))
        assert "Could not connect to the server" in err, err
        code, out, err = node.cli("getblockcount")
        assert_equal((code, out), (1, ""))
        assert "Could not locate RPC credentials" in err, err

        self.log("-rpcwait waits for the server to come up")
        waiter = subprocess.Popen([node.cli_binary, f"-datadir={node.datadir}", "-rpcwait", "getblockcount"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        node.start()
        out, err = waiter.communicate(timeout=30)
        assert_equal((waiter.returncode, out, err), (0, "0\n", ""))

        self.log("results: strings bare, JSON pretty with two spaces, null as nothing")
        node.generatetoaddress(3, ADDR)
        assert_equal(node.cli("getblockcount"), (0, "3\n", ""))
        assert_equal(node.cli("getbestblockhash"), (0, node.getbestblockhash() + "\n", ""))
        code, out, err = node.cli("getblockchaininfo")
        assert_equal((code, err), (0, ""))
        assert out.startswith('{\n  "chain": "regtest",\n'), out
        parsed = json.loads(out)
        rpc_info = json.loads(json.dumps(node.getblockchaininfo(), default=str))
        for k in ("chain", "blocks", "bestblockhash", "chainwork"):
            assert_equal(parsed[k], rpc_info[k])
        assert_equal(node.cli("setmocktime", "0"), (0, "", ""))
        code, out, _ = node.cli("getblock", node.getbestblockhash(), "2")
        assert '"value": 50.00000000' in out, "amounts keep eight decimals"

        self.log("errors: code and message on stderr, exit code 1")
        assert_equal(node.cli("getblockhash", "100"), (1, "", "error code: -8\nerror message:\nBlock height out of range\n"))
        code, out, err = node.cli("nosuchmethod")
        assert_equal((code, err), (1, "error code: -32601\nerror message:\nMethod not found\n"))
        assert_equal(node.cli("getblockhash", "abc"), (1, "", "error: Error parsing JSON: abc\n"))
        assert_equal(node.cli("-foo", "getblockcount")[0:2], (1, ""))
        assert "Error: Invalid parameter -foo" in node.cli("-foo", "getblockcount")[2]
        assert "too few parameters" in node.cli()[2]

        self.log("parameter conversion: echo sends strings, echojson parses JSON")
        assert_equal(json.loads(node.cli("echo", "1", "[2]", "x")[1]), ["1", "[2]", "x"])
        assert_equal(json.loads(node.cli("echojson", "1", "[2]", '{"a":true}')[1]), [1, [2], {"a": True}])

        self.log("-named and -stdin")
        h = node.getblockhash(1)
        assert_equal(node.cli("-named", "getblock", f"blockhash={h}", "verbosity=0")[1].strip(), node.getblock(h, 0))
        assert_equal(node.cli("-named", "getblockhash", "height=1")[1].strip(), h)
        assert_equal(node.cli("-stdin", "getblock", stdin=f"{h}\n0\n")[1].strip(), node.getblock(h, 0))
        assert_equal(node.cli("-stdin", "getblockhash", stdin="1\n")[1].strip(), h)

        self.log("-getinfo, -rpcwallet, -generate without a wallet")
        code, out, err = node.cli("-getinfo")
        assert_equal((code, err), (0, ""))
        assert "Chain: regtest\nBlocks: 3\nHeaders: 3\n" in out, out
        assert_equal(node.cli("-rpcwallet=w1", "getblockcount"), (0, "3\n", ""))
        code, _, err = node.cli("-generate", "1")
        assert_equal(code, 1)
        # The wallet is enabled but none is loaded: Core's -18.
        assert "error code: -18" in err and "No wallet is loaded" in err, err
        assert "\nNetwork: in 0, out 0, total 0\n" in out, out
        assert "Min tx relay fee rate (BTC/kvB): 0.00001000" in out, out
        assert "Wallet:" not in out, out

        self.log("-getinfo and -generate with a wallet")
        node.createwallet("w1")
        code, out, err = node.cli("-generate", "2")
        assert_equal((code, err), (0, ""))
        generated = json.loads(out)
        assert_equal(len(generated["blocks"]), 2)
        assert_equal(node.getblockcount(), 5)
        code, out, err = node.cli("-getinfo")
        assert_equal((code, err), (0, ""))
        assert "\nWallet: w1\nKeypool size: " in out, out
        assert "\nBalance: 0.00000000\n" in out, out
        assert out.endswith("Warnings: (none)\n"), out
        node.unloadwallet("w1")

        self.log("credentials: wrong password, explicit connection options")
        code, _, err = node.cli("-rpcuser=x", "-rpcpassword=y", "getblockcount")
        assert_equal((code, err), (1, "error: Authorization failed: Incorrect rpcuser or rpcpassword\n"))
        node.stop()
        node.start(["-rpcuser=u", "-rpcpassword=p"], wait=False)
        node.wait_for_rpc_connection("u", "p")
        code, out, err = node.cli("-regtest", "-rpcconnect=127.0.0.1", f"-rpcport={node.rpc_port}",
                                  "-rpcuser=u", "-rpcpassword=p", "getblockcount", datadir=False)
        assert_equal((code, out, err), (0, "5\n", ""))
        # A port in -rpcconnect, as bitcoin-cli takes it; -rpcport wins with a warning.
        creds = ("-regtest", "-rpcuser=u", "-rpcpassword=p")
        code, out, err = node.cli(*creds, f"-rpcconnect=127.0.0.1:{node.rpc_port}", "getblockcount", datadir=False)
        assert_equal((code, out, err), (0, "5\n", ""))
        code, out, err = node.cli(*creds, "-rpcconnect=127.0.0.1:1", f"-rpcport={node.rpc_port}", "getblockcount",
                                  datadir=False)
        assert_equal((code, out), (0, "5\n"))
        assert_equal(err, f"Warning: Port specified in both -rpcconnect and -rpcport. Using -rpcport {node.rpc_port}\n")
        code, _, err = node.cli(*creds, "-rpcconnect=127.0.0.1:99999", "getblockcount", datadir=False)
        assert_equal((code, err), (1, "error: Invalid port provided in -rpcconnect: 127.0.0.1:99999\n"))
        code, _, err = node.cli("getblockcount")
        assert_equal(code, 1)
        assert "Could not locate RPC credentials" in err, err
        assert_equal(node.cli("-stdinrpcpass", "-rpcuser=u", "getblockcount", stdin="p\n"), (0, "5\n", ""))

        self.log("a reader that goes away early (| head) ends the cli quietly")
        proc = subprocess.Popen([node.cli_binary, f"-datadir={node.datadir}", "-rpcuser=u", "-rpcpassword=p",
                                 "echo"] + ["x" * 100000] * 4, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.read(10)
        proc.stdout.close()
        proc.wait(timeout=30)
        assert_equal(proc.stderr.read(), b"")

        self.log("help and stop")
        code, out, _ = node.cli("-help")
        assert_equal(code, 0)
        assert "Usage:" in out
        assert "== Blockchain ==" in node.cli("-rpcuser=u", "-rpcpassword=p", "help")[1]
        assert_equal(node.cli("-rpcuser=u", "-rpcpassword=p", "stop"), (0, "hashvive stopping\n", ""))
        assert_equal(node.wait_exit(), 0)
        node.process = None
        node.rpc = None


if __name__ == "__main__":
    CliTest().main()
