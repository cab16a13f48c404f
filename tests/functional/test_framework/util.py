"""Assertions and helpers shared by the functional tests."""

import os
import time

from .authproxy import JSONRPCException

# An anyone-can-spend P2WSH(OP_TRUE) address, the one Core's tests mine to.
ADDRESS_BCRT1_P2WSH_OP_TRUE = "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85"


def assert_equal(thing1, thing2, *args):
    if thing1 != thing2 or any(thing1 != arg for arg in args):
        raise AssertionError("not(%s)" % " == ".join(str(arg) for arg in (thing1, thing2) + args))


def assert_greater_than(thing1, thing2):
    if thing1 <= thing2:
        raise AssertionError("%s <= %s" % (thing1, thing2))


def assert_raises_rpc_error(code, message, fun, *args, **kwds):
    """Asserts fun(*args) raises a JSONRPCException with this code and a message
    containing `message` (either may be None to skip the check)."""
    try:
        fun(*args, **kwds)
    except JSONRPCException as e:
        if code is not None and code != e.error["code"]:
            raise AssertionError("Unexpected JSONRPC error code %i (%s)" % (e.error["code"], e.error["message"]))
        if message is not None and message not in e.error["message"]:
            raise AssertionError("Expected substring not found in error message:\nsubstring: '%s'\nmessage: '%s'" % (message, e.error["message"]))
        return e
    except Exception as e:
        raise AssertionError("Unexpected exception raised: " + type(e).__name__ + ": " + str(e))
    raise AssertionError("No exception raised")


def wait_until(predicate, timeout=30, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_base():
    """Ports derived from the process id, so parallel tests do not collide."""
    return 12000 + (os.getpid() % 2500) * 8


def rpc_port(n):
    return port_base() + n


MAX_NODES = 4


def p2p_port(n):
    """P2P ports: also derived from the process id, in a range (4000-12000) disjoint from
    the RPC ports and below the kernel's ephemeral ports."""
    assert n < MAX_NODES
    return 4000 + (os.getpid() % 2000) * MAX_NODES + n


def coinbase_txid(rpc, height):
    """The txid of the coinbase of the active chain's block at `height`."""
    return rpc.getblock(rpc.getblockhash(height), 2)["tx"][0]["txid"]
