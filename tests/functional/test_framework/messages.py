"""Minimal transaction serialization for building test transactions."""

import hashlib
import struct

OP_TRUE_SCRIPT = bytes([0x51])
# P2WSH(OP_TRUE): spendable by anyone with the witness [OP_TRUE].
P2WSH_OP_TRUE = bytes([0x00, 0x20]) + hashlib.sha256(OP_TRUE_SCRIPT).digest()


def ser_compact_size(n):
    if n < 253:
        return bytes([n])
    if n <= 0xffff:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def ser_bytes(b):
    return ser_compact_size(len(b)) + b


def dsha256(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


class Tx:
    """inputs: (txid_hex, vout, sequence, witness_stack); outputs: (sats, script)."""

    def __init__(self, inputs, outputs, version=2, locktime=0):
        self.inputs = inputs
        self.outputs = outputs
        self.version = version
        self.locktime = locktime

    def _body(self, with_witness):
        has_witness = with_witness and any(i[3] for i in self.inputs)
        out = struct.pack("<i", self.version)
        if has_witness:
            out += b"\x00\x01"
        out += ser_compact_size(len(self.inputs))
        for txid, vout, seq, _ in self.inputs:
            out += bytes.fromhex(txid)[::-1] + struct.pack("<I", vout) + ser_bytes(b"") + struct.pack("<I", seq)
        out += ser_compact_size(len(self.outputs))
        for value, script in self.outputs:
            out += struct.pack("<q", value) + ser_bytes(script)
        if has_witness:
            for _, _, _, stack in self.inputs:
                out += ser_compact_size(len(stack)) + b"".join(ser_bytes(item) for item in stack)
        return out + struct.pack("<I", self.locktime)

    def serialize(self):
        return self._body(True)

    def hex(self):
        return self.serialize().hex()

    def txid(self):
        return dsha256(self._body(False))[::-1].hex()


def spend_op_true(txid, vout, value_sats, fee=1000, sequence=0xffffffff, outputs=None, witness=None, locktime=0):
    """A transaction spending one P2WSH(OP_TRUE) output back to P2WSH(OP_TRUE)."""
    outs = outputs if outputs is not None else [(value_sats - fee, P2WSH_OP_TRUE)]
    stack = witness if witness is not None else [OP_TRUE_SCRIPT]
    return Tx([(txid, vout, sequence, stack)], outs, locktime=locktime)
