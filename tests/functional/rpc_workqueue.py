#!/usr/bin/env python3
"""-rpcthreads and -rpcworkqueue: a full work queue answers 503, and the server keeps
serving once the queue drains."""

import threading
import time

from test_framework.test_framework import HashviveTestFramework
from test_framework.util import assert_equal


class WorkQueueTest(HashviveTestFramework):
    def run_test(self):
        node = self.nodes[0]
        node.start(["-rpcthreads=1", "-rpcworkqueue=1"])
        rpc = node.rpc
        # One call occupies the only worker, a second fills the queue.
        blockers = [node.proxy(timeout=30) for _ in range(2)]
        threads = [threading.Thread(target=b.waitfornewblock, args=(3000,)) for b in blockers]
        # The worker is busy, so nothing can observe it through RPC: give it time.
        threads[0].start()
        time.sleep(0.3)
        threads[1].start()
        time.sleep(0.3)
        extra = node.proxy()
        status, body = extra.raw_request('{"method":"getblockcount","id":1}')
        assert_equal(status, 503)
        for t in threads:
            t.join()
        for b in blockers + [extra]:
            b.close()
        assert_equal(rpc.getblockcount(), 0)
        node.stop()


if __name__ == "__main__":
    WorkQueueTest().main()
