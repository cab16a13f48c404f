#!/usr/bin/env python3
"""JSON-RPC semantics: 1.0 vs 2.0 replies and HTTP status codes, batches, notifications,
named parameters, Core's error codes, and malformed input not hurting the server."""

import http.client
import json
import socket

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal, assert_raises_rpc_error


class JsonRpcTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start()
        rpc = node.rpc

        self.log("JSON-RPC 1.0: errors carry HTTP 500/404, result and error both present")
        status, reply = rpc.raw_request('{"method":"getblockcount","params":[],"id":7}')
        assert_equal(status, 200)
        assert_equal(reply, {"result": 0, "error": None, "id": 7})
        status, reply = rpc.raw_request('{"method":"nosuchmethod","params":[],"id":1}')
        assert_equal(status, 404)
        assert_equal(reply["error"], {"code": -32601, "message": "Method not found"})
        assert_equal(reply["result"], None)
        status, reply = rpc.raw_request('{"method":"getblockhash","params":[5],"id":1}')
        assert_equal(status, 500)
        assert_equal(reply["error"], {"code": -8, "message": "Block height out of range"})

        self.log("JSON-RPC 2.0: errors are HTTP 200, only one of result/error")
        status, reply = rpc.raw_request('{"jsonrpc":"2.0","method":"getblockcount","id":"a"}')
        assert_equal((status, reply), (200, {"jsonrpc": "2.0", "result": 0, "id": "a"}))
        status, reply = rpc.raw_request('{"jsonrpc":"2.0","method":"nosuchmethod","id":2}')
        assert_equal(status, 200)
        assert_equal(reply, {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 2})
        self.log("a 2.0 notification gets 204 and no body")
        status, reply = rpc.raw_request('{"jsonrpc":"2.0","method":"getblockcount"}')
        assert_equal((status, reply), (204, None))

        self.log("parse errors and invalid requests")
        status, reply = rpc.raw_request("{not json")
        assert_equal(status, 500)
        assert_equal(reply["error"], {"code": -32700, "message": "Parse error"})
        status, reply = rpc.raw_request('"just a string"')
        assert_equal(status, 500)
        assert_equal(reply["error"]["code"], -32700)
        status, reply = rpc.raw_request('{"params":[],"id":1}')
        assert_equal(status, 400)
        assert_equal(reply["error"], {"code": -32600, "message": "Missing method"})
        status, reply = rpc.raw_request('{"method":5,"id":1}')
        assert_equal((status, reply["error"]["message"]), (400, "Method must be a string"))
        status, reply = rpc.raw_request('{"method":"getblockcount","params":5,"id":1}')
        assert_equal((status, reply["error"]["message"]), (400, "Params must be an array or object"))

        self.log("batches mix successes, errors and notifications")
        batch = [
            {"method": "getblockcount", "id": 1},
            {"method": "nosuchmethod", "id": 2},
            {"jsonrpc": "2.0", "method": "getbestblockhash", "id": 3},
            {"jsonrpc": "2.0", "method": "getblockcount"},
            "not an object",
        ]
        status, reply = rpc.raw_request(json.dumps(batch))
        assert_equal(status, 200)
        assert_equal(len(reply), 4)
        assert_equal(reply[0], {"result": 0, "error": None, "id": 1})
        assert_equal(reply[1]["error"]["code"], -32601)
        assert_equal(reply[2]["result"], rpc.getbestblockhash())
        assert_equal(reply[3]["error"], {"code": -32600, "message": "Invalid Request object"})
        assert_equal(rpc.raw_request("[]"), (200, []))

        self.log("named parameters")
        h = rpc.getblockhash(height=0)
        assert_equal(rpc.getblock(blockhash=h, verbosity=0)[:8], "01000000")
        assert_equal(rpc.getblockheader(blockhash=h, verbose=False)[:8], "01000000")
        # Core's aliases: getblock and getrawtransaction take verbose for verbosity.
        assert_equal(rpc.getblock(blockhash=h, verbose=0)[:8], "01000000")
        assert_equal(rpc.getblock(blockhash=h, verbose=2)["tx"][0]["vout"][0]["value"], 50)
        coinbase = rpc.getblock(h)["tx"][0]
        assert_raises_rpc_error(-5, None, rpc.getrawtransaction, txid=coinbase, verbose=True)
        assert_raises_rpc_error(-8, "Unknown named parameter foo", rpc.getblock, blockhash=h, foo=1)
        assert_raises_rpc_error(-1, "getblock", rpc.getblock, verbosity=1)

        self.log("Core's error codes and messages")
        assert_raises_rpc_error(-1, "getblockhash height", rpc.getblockhash)
        assert_raises_rpc_error(-1, None, rpc.getblockcount, 1)
        assert_raises_rpc_error(-3, "JSON value of type string is not of expected type number", rpc.getblockhash, "0")
        assert_raises_rpc_error(-8, "blockhash must be of length 64 (not 3, for 'abc')", rpc.getblock, "abc")
        assert_raises_rpc_error(-8, "blockhash must be hexadecimal string", rpc.getblock, "z" * 64)
        assert_raises_rpc_error(-5, "Block not found", rpc.getblock, "00" * 32)
        assert_raises_rpc_error(-5, "Block not found", rpc.getblockheader, "00" * 32)
        assert_raises_rpc_error(-22, "TX decode failed", rpc.decoderawtransaction, "00")
        assert_raises_rpc_error(-5, "Invalid address", rpc.generatetoaddress, 1, "notanaddress")
        assert_raises_rpc_error(-8, "Mocktime cannot be negative: -1.", rpc.setmocktime, -1)
        assert_raises_rpc_error(-8, "unknown logging category foo", rpc.logging, ["foo"])

        self.log("help and echo")
        text = rpc.help()
        assert "== Blockchain ==" in text and "getblockcount" in text
        assert "echo" not in text.split(), "hidden commands are not listed"
        assert rpc.help("getblock").startswith('getblock "blockhash" ( verbosity )')
        assert "generatetoaddress nblocks \"address\" ( maxtries )" in text, text
        assert_equal(rpc.help("nosuch"), "help: unknown command: nosuch")
        assert_equal(rpc.echo("a", 1, [2]), ["a", 1, [2]])
        assert_equal(rpc.echojson(arg1={"x": 1}), [None, {"x": 1}])
        info = rpc.getrpcinfo()
        assert_equal(info["active_commands"][0]["method"], "getrpcinfo")
        assert info["logpath"].endswith("debug.log")
        assert isinstance(rpc.uptime(), int)
        cats = rpc.logging(["net"], ["rpc"])
        assert_equal((cats["net"], cats["rpc"]), (True, False))

        self.log("wrong HTTP method, unknown path, garbage and oversize input do not kill the server")
        conn = http.client.HTTPConnection("127.0.0.1", node.rpc_port, timeout=10)
        user, password = node.cookie_auth()
        import base64
        auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        conn.request("GET", "/", headers={"Authorization": auth})
        resp = conn.getresponse()
        resp.read()
        assert_equal(resp.status, 405)
        conn.request("POST", "/rest/nothing", "{}", headers={"Authorization": auth})
        resp = conn.getresponse()
        resp.read()
        assert_equal(resp.status, 404)
        conn.close()
        for junk in (b"\x00\xff garbage\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: zz\r\n\r\n",
                     b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", b"X" * 20000):
            s = socket.create_connection(("127.0.0.1", node.rpc_port), timeout=10)
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            s.recv(1000)
            s.close()
        # Keep-alive: many calls on one connection.
        for _ in range(200):
            rpc.getblockcount()
        assert_equal(rpc.getblockcount(), 0)
        node.stop()


if __name__ == "__main__":
    JsonRpcTest().main()
