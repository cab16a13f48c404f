#!/usr/bin/env python3
"""RPC authentication: cookie, -rpcuser/-rpcpassword, -rpcauth, 401 on bad credentials,
and the cookie file's removal at shutdown."""

import hmac
import os

from test_framework.authproxy import AuthServiceProxy
from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal


def rpcauth_line(user, salt, password):
    digest = hmac.new(salt.encode(), password.encode(), "sha256").hexdigest()
    return f"{user}:{salt}${digest}"


class RpcAuthTest(HashviveTestFramework):
    def status_for(self, node, user, password):
        proxy = AuthServiceProxy(node.url(user, password))
        status, _ = proxy.raw_request('{"method":"getblockcount","params":[],"id":1}')
        proxy.close()
        return status

    def run_test(self):
        node = self.nodes[0]
        self.log("cookie auth")
        node.start()
        cookie_path = os.path.join(node.chaindir, ".cookie")
        with open(cookie_path) as f:
            user, password = f.read().split(":")
        assert_equal(user, "__cookie__")
        assert_equal(os.stat(cookie_path).st_mode & 0o777, 0o600)
        assert_equal(len(password), 64)
        int(password, 16)
        assert_equal(self.status_for(node, user, password), 200)
        assert_equal(self.status_for(node, user, "0" * 64), 401)
        assert_equal(self.status_for(node, "wrong", password), 401)
        node.stop()
        assert not os.path.exists(cookie_path), "cookie must be removed on shutdown"

        self.log("rpcuser/rpcpassword and rpcauth together")
        auth1 = rpcauth_line("rt", "cb77f0957de88ff388cf817ddbc7273", "rtpass")
        auth2 = rpcauth_line("rt2", "f8e49a2bf2dc3b1efae4a2fb4a7d0b8a", "pass2")
        node.start(["-rpcuser=alice", "-rpcpassword=secret", f"-rpcauth={auth1}", f"-rpcauth={auth2}"], wait=False)
        node.wait_for_rpc_connection("alice", "secret")
        assert not os.path.exists(cookie_path), "no cookie when -rpcpassword is set"
        assert_equal(self.status_for(node, "alice", "secret"), 200)
        assert_equal(self.status_for(node, "alice", "Secret"), 401)
        assert_equal(self.status_for(node, "rt", "rtpass"), 200)
        assert_equal(self.status_for(node, "rt2", "pass2"), 200)
        assert_equal(self.status_for(node, "rt", "pass2"), 401)
        assert_equal(self.status_for(node, "rt", ""), 401)

        self.log("missing and malformed Authorization headers get 401")
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", node.rpc_port, timeout=10)
        for headers in ({}, {"Authorization": "Basic !!!notbase64"}, {"Authorization": "Bearer x"}):
            conn.request("POST", "/", '{"method":"getblockcount"}', headers)
            resp = conn.getresponse()
            resp.read()
            assert_equal(resp.status, 401)
            assert_equal(resp.getheader("WWW-Authenticate"), 'Basic realm="jsonrpc"')
        conn.close()
        node.stop()

        self.log("malformed -rpcauth is an init error")
        code, _, stderr = node.run_expect_failure(["-rpcauth=nodollarsign"])
        assert_equal(code, 1)
        assert "Invalid -rpcauth argument" in stderr, stderr


if __name__ == "__main__":
    RpcAuthTest().main()
