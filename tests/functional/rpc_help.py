#!/usr/bin/env python3
"""help in Core's layout: usage line, description, numbered Arguments, Result and
Examples; help without arguments lists commands by group; wrong argument counts return
the help text as the error."""

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal, assert_raises_rpc_error


class HelpTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc

        self.log("help lists commands by group")
        text = rpc.help()
        for group in ["== Blockchain ==", "== Control ==", "== Generating ==", "== Mining ==", "== Network ==",
                      "== Rawtransactions ==", "== Util =="]:
            assert group in text, group
        commands = [line.split()[0] for line in text.splitlines() if line and not line.startswith("==")]
        assert "getblockcount" in commands and len(commands) > 40
        assert "setmocktime" not in commands  # hidden

        self.log("every listed command has Core-layout help")
        for name in commands:
            h = rpc.help(name)
            usage, blank = h.split("\n")[:2]
            assert usage.split()[0] == name and blank == "", name
            assert "\nResult" in h, name
            # Core gives no examples for stop and help either.
            assert "\nExamples:\n> hashvive-cli " in h or name in ("stop", "help"), name

        self.log("getblockcount, exactly")
        assert_equal(rpc.help("getblockcount"),
                     "getblockcount\n\n"
                     "Returns the height of the most-work fully-validated chain.\n"
                     "The genesis block has height 0.\n\n"
                     "Result:\n"
                     "n    (numeric) The current block count\n\n"
                     "Examples:\n"
                     "> hashvive-cli getblockcount \n"
                     "> curl --user myusername --data-binary '{\"jsonrpc\": \"2.0\", \"id\": \"curltest\", "
                     "\"method\": \"getblockcount\", \"params\": []}' -H 'content-type: application/json' http://127.0.0.1:18443/")

        self.log("getblock: numbered arguments, conditional results")
        h = rpc.help("getblock")
        assert h.startswith('getblock "blockhash" ( verbosity )\n\nIf verbosity is 0, returns a string')
        assert "\nArguments:\n1. blockhash            (string, required) The block hash\n2. verbosity|verbose    (numeric, optional, default=1)" in h
        assert "\nResult (for verbosity = 0):\n\"hex\"    (string) A string that is serialized, hex-encoded data for block 'hash'\n" in h
        assert '> hashvive-cli getblock "00000000c937983704a73af28acdec37b049d214adbda81d7e2a3dd146f6ed09"' in h

        self.log("control group: stop, uptime, logging")
        assert "\nArguments:\n1. wait    (numeric, optional) how long to wait in ms\n" in rpc.help("stop")
        assert_equal(rpc.help("uptime").split("\n\n")[1], "Returns the total uptime of the server.")
        logging = rpc.help("logging")
        include = next(line for line in logging.splitlines() if line.startswith("1. include "))
        assert include.endswith(" (json array, optional) The categories to add to debug logging"), include
        rpcinfo = rpc.help("getrpcinfo").split("\nResult:\n")[1].splitlines()
        assert rpcinfo[0].startswith("{ ") and rpcinfo[0].endswith(" (json object)"), rpcinfo
        # The description column lines up across the section.
        col = rpcinfo[0].index("(json object)")
        assert_equal(rpcinfo[1].index("(json array) All active commands"), col)

        self.log("unknown command and wrong argument counts")
        assert_equal(rpc.help("nosuch"), "help: unknown command: nosuch")
        assert_raises_rpc_error(-1, "getblockhash height\n\nReturns hash of block in best-block-chain at height provided.\n\nArguments:\n1. height    (numeric, required) The height index", rpc.getblockhash)

        self.log("hashvive-cli help prints the same text")
        code, out, _ = node.cli("help", "getblockcount")
        assert_equal(code, 0)
        assert_equal(out.rstrip("\n"), rpc.help("getblockcount"))


if __name__ == "__main__":
    HelpTest().main()
