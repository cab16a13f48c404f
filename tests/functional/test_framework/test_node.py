"""Control of one hashvived process: start, RPC, CLI, clean stop and kill -9."""

import os
import signal
import subprocess
import time
import urllib.parse

from .authproxy import AuthServiceProxy, JSONRPCException
from .util import p2p_port, rpc_port


class TestNode:
    def __init__(self, index, basedir, binary, cli_binary):
        self.index = index
        self.datadir = os.path.join(basedir, f"node{index}")
        os.makedirs(self.datadir, exist_ok=True)
        self.chaindir = os.path.join(self.datadir, "regtest")
        self.binary = binary
        self.cli_binary = cli_binary
        self.rpc_port = rpc_port(index)
        self.p2p_port = p2p_port(index)
        self.process = None
        self.rpc = None
        self.stdout_path = os.path.join(self.datadir, "stdout.txt")
        self.stderr_path = os.path.join(self.datadir, "stderr.txt")
        self.write_config()

    def write_config(self, extra_lines=()):
        with open(os.path.join(self.datadir, "hashvive.conf"), "w") as f:
            f.write("regtest=1\n[regtest]\n")
            f.write(f"rpcport={self.rpc_port}\n")
            # Every node listens on its own port, on loopback only, as in Core's framework.
            f.write(f"port={self.p2p_port}\n")
            f.write("bind=127.0.0.1\n")
            f.write("rpcservertimeout=60\n")
            for line in extra_lines:
                f.write(line + "\n")

    @property
    def debug_log(self):
        return os.path.join(self.chaindir, "debug.log")

    def debug_log_text(self):
        """The whole debug.log as it is now."""
        with open(self.debug_log) as f:
            return f.read()

    def base_args(self):
        # The flags Core's test framework passes, including ones hashvived only ignores.
        return ["-logtimemicros", "-debug", "-debugexclude=libevent",
                "-uacomment=testnode%d" % self.index, "-logthreadnames", "-logsourcelocations",
                "-loglevel=trace", "-v2transport=0"]

    def start(self, extra_args=(), wait=True, use_base_args=True):
        args = [self.binary, f"-datadir={self.datadir}"] + (self.base_args() if use_base_args else []) + list(extra_args)
        self.stdout = open(self.stdout_path, "w")
        self.stderr = open(self.stderr_path, "w")
        self.process = subprocess.Popen(args, stdout=self.stdout, stderr=self.stderr)
        if wait:
            self.wait_for_rpc_connection()

    def cookie_auth(self):
        with open(os.path.join(self.chaindir, ".cookie")) as f:
            user, password = f.read().strip().split(":", 1)
        return user, password

    def url(self, user, password, path=""):
        return f"http://{user}:{password}@127.0.0.1:{self.rpc_port}{path}"

    def proxy(self, user=None, password=None, timeout=60):
        if user is None:
            user, password = self.cookie_auth()
        return AuthServiceProxy(self.url(user, password), timeout=timeout)

    def get_wallet_rpc(self, name, timeout=60):
        """A proxy whose calls go to /wallet/<name> (URL-quoted), as Core's get_wallet_rpc."""
        user, password = self.cookie_auth()
        quoted = urllib.parse.quote(name, safe="")
        return AuthServiceProxy(self.url(user, password, f"/wallet/{quoted}"), timeout=timeout)

    def wait_for_rpc_connection(self, user=None, password=None, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"hashvived exited with {self.process.returncode} during start: {self.read_stderr()}")
            try:
                rpc = self.proxy(user, password)
                rpc.getblockcount()
                self.rpc = rpc
                return
            except (OSError, JSONRPCException, ValueError) as e:
                last = e
                time.sleep(0.05)
        raise AssertionError(f"RPC did not come up within {timeout}s: {last}")

    def __getattr__(self, name):
        if name.startswith("_") or self.rpc is None:
            raise AttributeError(name)
        return getattr(self.rpc, name)

    def read_stderr(self):
        try:
            with open(self.stderr_path) as f:
                return f.read()
        except OSError:
            return ""

    def read_stdout(self):
        with open(self.stdout_path) as f:
            return f.read()

    def wait_exit(self, timeout=30):
        code = self.process.wait(timeout=timeout)
        self.stdout.close()
        self.stderr.close()
        return code

    def stop(self, expect_clean_stderr=True):
        """Stops via RPC; asserts exit code 0 and, by default, an empty stderr."""
        self.rpc.stop()
        code = self.wait_exit()
        self.rpc.close()
        self.rpc = None
        self.process = None
        if code != 0:
            raise AssertionError(f"hashvived exited with {code}")
        if expect_clean_stderr and self.read_stderr():
            raise AssertionError(f"unexpected stderr: {self.read_stderr()}")

    def kill(self):
        """kill -9: no shutdown code runs."""
        self.process.send_signal(signal.SIGKILL)
        self.wait_exit()
        if self.rpc:
            self.rpc.close()
        self.rpc = None
        self.process = None

    def terminate(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)
        code = self.wait_exit()
        self.rpc = None
        self.process = None
        return code

    def run_expect_failure(self, extra_args, use_base_args=True, timeout=30):
        """Runs hashvived expecting it to exit on its own; returns (code, stdout, stderr)."""
        args = [self.binary, f"-datadir={self.datadir}"] + (self.base_args() if use_base_args else []) + list(extra_args)
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    def cli(self, *args, stdin=None, datadir=True, timeout=60):
        """Runs hashvive-cli; returns (exit code, stdout, stderr)."""
        cmd = [self.cli_binary]
        if datadir:
            cmd.append(f"-datadir={self.datadir}")
        cmd.extend(args)
        proc = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    def cleanup(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.rpc is not None:
            self.rpc.close()
