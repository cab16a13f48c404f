#!/usr/bin/env python3
"""Settings: unknown options, chains, config file sections, -noX, -includeconf, command
line precedence, ignored compatibility options, logging format and an empty stderr."""

import os
import re

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal


class ConfigTest(HashviveTestFramework):
    def expect_init_error(self, node, args, message, use_base_args=True):
        code, stdout, stderr = node.run_expect_failure(args, use_base_args=use_base_args)
        assert_equal(code, 1)
        assert message in stderr, f"expected {message!r} in stderr {stderr!r}"
        assert_equal(stdout, "")

    def run_test(self):
        node = self.nodes[0]
        conf = os.path.join(node.datadir, "hashvive.conf")

        self.log("unknown options and unsupported chains are errors with exit code 1")
        self.expect_init_error(node, ["-foo"], "Error: Invalid parameter -foo")
        self.expect_init_error(node, ["-nofoo=1"], "Error: Invalid parameter -nofoo=1")
        self.expect_init_error(node, ["stray"], "unexpected token 'stray'")
        self.expect_init_error(node, ["-testnet"], "Invalid combination")
        with open(conf, "w") as f:
            f.write(f"rpcport={node.rpc_port}\n")
        self.expect_init_error(node, ["-testnet"], "chain 'test' is not supported")
        self.expect_init_error(node, ["-signet"], "chain 'signet' is not supported")
        self.expect_init_error(node, ["-chain=main"], "not supported")
        self.expect_init_error(node, ["-regtest", "-testnet"], "Invalid combination")
        node.write_config()
        self.expect_init_error(node, ["-datadir=/nonexistent/hashvive"], 'Specified data directory "/nonexistent/hashvive" does not exist.')
        self.expect_init_error(node, ["-includeconf=x.conf"], "-includeconf cannot be used from commandline")
        self.expect_init_error(node, ["-conf=missing.conf"], "could not be opened")
        self.expect_init_error(node, ["-rpcport=notanumber"], "Invalid value for -rpcport")
        with open(conf, "a") as f:
            f.write("nolisten\n")
        self.expect_init_error(node, [], "if you intended to specify a negated option, use nolisten=1 instead")
        node.write_config()
        self.log("main chain (no -regtest anywhere) is refused")
        with open(conf, "w") as f:
            f.write(f"rpcport={node.rpc_port}\n")
        self.expect_init_error(node, [], "chain 'main' is not supported")

        self.log("sections: [regtest] applies, [main] and [test] do not; top level applies to all")
        other = os.path.join(node.datadir, "other.conf")
        with open(other, "w") as f:
            f.write("rpcuser=frominclude\nrpcpassword=incpass\n")
        with open(conf, "w") as f:
            f.write("regtest=1\nrpcservertimeout=60\nserver=0\nincludeconf=other.conf\n")
            f.write("[main]\nrpcport=1\n[test]\nrpcport=2\n")
            f.write(f"[regtest]\nrpcport={node.rpc_port}\nserver=1\nunknownoption=5\n")
            f.write(f"port={node.p2p_port}\nbind=127.0.0.1\n")
        node.start(["-nologratelimit", "-par=2", "-unsafesqlitesync"], wait=False)
        node.wait_for_rpc_connection("frominclude", "incpass")
        assert_equal(node.getblockcount(), 0)
        with open(node.debug_log) as f:
            log = f.read()
        assert "Ignoring unknown configuration value unknownoption" in log
        for opt in ("logsourcelocations", "loglevel", "v2transport", "logratelimit", "par", "unsafesqlitesync"):
            assert f"Ignoring unsupported option -{opt}" in log, opt
        node.stop()

        self.log("command line beats the config file; -noserver disables RPC")
        with open(conf, "w") as f:
            f.write(f"regtest=1\n[regtest]\nrpcport={node.rpc_port + 1}\nport={node.p2p_port}\nbind=127.0.0.1\n")
        node.start([f"-rpcport={node.rpc_port}"])
        node.stop()
        node.start(["-noserver"], wait=False)
        import time
        time.sleep(1)
        assert node.process.poll() is None, "node runs without RPC"
        assert not os.path.exists(os.path.join(node.chaindir, ".cookie"))
        assert_equal(node.terminate(), 0)
        assert_equal(node.read_stderr(), "")

        self.log("debug.log format, -printtoconsole, -debug categories")
        node.write_config()
        os.remove(node.debug_log)
        node.start(["-printtoconsole", "-nologtimemicros", "-debug=rpc"], use_base_args=False, wait=False)
        node.wait_for_rpc_connection()
        node.getblockcount()
        node.stop()
        with open(node.debug_log) as f:
            lines = f.read().splitlines()
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ hashvive version", lines[0]), lines[0]
        assert any(re.match(r"^\S+Z \[rpc\] ThreadRPCServer method=getblockcount", l) for l in lines)
        assert_equal(node.read_stdout().splitlines(), lines)
        node.start(["-logtimemicros"], use_base_args=False)
        node.stop()
        with open(node.debug_log) as f:
            last = f.read().splitlines()[-1]
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z ", last), last
        assert_equal(node.read_stdout(), "")

        self.log("-shrinkdebugfile keeps the last 10 MB of a large debug.log")
        with open(node.debug_log, "w") as f:
            f.write(("x" * 99 + "\n") * 120_000)
        node.start(["-shrinkdebugfile"], use_base_args=False)
        node.stop()
        size = os.path.getsize(node.debug_log)
        assert 10_000_000 <= size < 10_100_000, size

        self.log("-logthreadnames and -debugexclude")
        node.start(["-logthreadnames", "-debug", "-debugexclude=rpc"], use_base_args=False)
        node.getblockcount()
        node.stop()
        with open(node.debug_log) as f:
            tail = f.read().splitlines()[-6:]
        assert any(re.match(r"^\S+Z \[main\] Shutdown: done", l) for l in tail), tail
        assert not any("[rpc]" in l for l in tail), tail

        self.log("-rpcbind needs -rpcallowip; bad subnets are init errors")
        alt = node.rpc_port + 3
        node.start([f"-rpcbind=127.0.0.1:{alt}", "-rpcallowip=10.0.0.0/8"], wait=False)
        from test_framework.authproxy import AuthServiceProxy
        from test_framework.util import wait_until

        def alt_up():
            try:
                user, password = node.cookie_auth()
                proxy = AuthServiceProxy(f"http://{user}:{password}@127.0.0.1:{alt}")
                proxy.getblockcount()
                return proxy
            except OSError:
                return None
        wait_until(lambda: alt_up() is not None, what="RPC on the -rpcbind port")
        alt_proxy = alt_up()
        assert_equal(alt_proxy.stop(), "hashvive stopping")
        alt_proxy.close()
        assert_equal(node.wait_exit(), 0)
        node.process = None
        node.start([f"-rpcbind=127.0.0.1:{alt}"])  # ignored without -rpcallowip: default bind
        node.stop()
        self.expect_init_error(node, ["-rpcallowip=300.1.1.1"], "Invalid -rpcallowip subnet specification: 300.1.1.1")
        self.expect_init_error(node, ["-rpcallowip=1.2.3.4/255.0.255.0"], "Invalid -rpcallowip subnet specification")

        self.log("SIGTERM and SIGINT shut down cleanly with exit code 0")
        import signal
        for sig in (signal.SIGTERM, signal.SIGINT):
            node.start()
            assert_equal(node.terminate(sig), 0)
            assert_equal(node.read_stderr(), "")
            assert not os.path.exists(os.path.join(node.chaindir, ".cookie"))

        self.log("a second node on the same datadir is refused")
        node.start()
        self.expect_init_error(node, [f"-rpcport={node.rpc_port + 2}"], "Cannot obtain a lock on data directory")
        node.stop()


if __name__ == "__main__":
    ConfigTest().main()
