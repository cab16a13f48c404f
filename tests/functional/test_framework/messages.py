"""Minimal transaction and block serialization for building test transactions and blocks."""

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
    """inputs: (txid_hex, vout, sequence, witness_stack[, script_sig]); outputs: (sats, script).
    The script_sig is optional (empty when left out)."""

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
        for inp in self.inputs:
            txid, vout, seq = inp[:3]
            script_sig = inp[4] if len(inp) > 4 else b""
            out += bytes.fromhex(txid)[::-1] + struct.pack("<I", vout) + ser_bytes(script_sig) + struct.pack("<I", seq)
        out += ser_compact_size(len(self.outputs))
        for value, script in self.outputs:
            out += struct.pack("<q", value) + ser_bytes(script)
        if has_witness:
            for inp in self.inputs:
                stack = inp[3]
                out += ser_compact_size(len(stack)) + b"".join(ser_bytes(item) for item in stack)
        return out + struct.pack("<I", self.locktime)

    def serialize(self):
        return self._body(True)

    def hex(self):
        return self.serialize().hex()

    def txid(self):
        return dsha256(self._body(False))[::-1].hex()

    def wtxid(self):
        return dsha256(self._body(True))[::-1].hex()

    def set_witness(self, index, stack):
        """Replaces the witness stack of input `index`."""
        inp = self.inputs[index]
        self.inputs[index] = tuple(inp[:3]) + (list(stack),) + tuple(inp[4:])


def spend_op_true(txid, vout, value_sats, fee=1000, sequence=0xffffffff, outputs=None, witness=None, locktime=0):
    """A transaction spending one P2WSH(OP_TRUE) output back to P2WSH(OP_TRUE)."""
    outs = outputs if outputs is not None else [(value_sats - fee, P2WSH_OP_TRUE)]
    stack = witness if witness is not None else [OP_TRUE_SCRIPT]
    return Tx([(txid, vout, sequence, stack)], outs, locktime=locktime)


# Blocks.

COIN = 100_000_000
REGTEST_BITS = 0x207fffff
REGTEST_HALVING_INTERVAL = 150
NULL_TXID = "00" * 32
# OP_RETURN, push of 36 bytes, BIP141 commitment header 0xaa21a9ed.
WITNESS_COMMITMENT_PREFIX = bytes.fromhex("6a24aa21a9ed")


def ser_script_num(n):
    """CScriptNum serialization: minimal little-endian sign-magnitude."""
    if n == 0:
        return b""
    neg, a, out = n < 0, abs(n), bytearray()
    while a:
        out.append(a & 0xff)
        a >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if neg else 0x00)
    elif neg:
        out[-1] |= 0x80
    return bytes(out)


def script_push(data):
    """Minimal push of `data` (as CScript() << vector)."""
    n = len(data)
    if n < 0x4c:
        return bytes([n]) + data
    if n <= 0xff:
        return b"\x4c" + bytes([n]) + data
    if n <= 0xffff:
        return b"\x4d" + struct.pack("<H", n) + data
    return b"\x4e" + struct.pack("<I", n) + data


def script_int(n):
    """CScript() << n: OP_0, OP_1NEGATE, OP_1..OP_16, else a push of the CScriptNum."""
    if n == 0:
        return b"\x00"
    if n == -1 or 1 <= n <= 16:
        return bytes([0x50 + n])
    return script_push(ser_script_num(n))


def block_subsidy(height, halving_interval=REGTEST_HALVING_INTERVAL):
    halvings = height // halving_interval
    return 0 if halvings >= 64 else (50 * COIN) >> halvings


def create_coinbase(height, value, script_pubkey=P2WSH_OP_TRUE, extra_script_sig=b"", extra_outputs=(),
                    height_push=None):
    """A coinbase whose scriptSig starts with the BIP34 height push (or `height_push`, raw
    bytes, to break it), then `extra_script_sig`; padded with OP_0 to the 2-byte minimum."""
    script_sig = (script_int(height) if height_push is None else height_push) + extra_script_sig
    if len(script_sig) < 2:
        script_sig += b"\x00"
    return Tx([(NULL_TXID, 0xffffffff, 0xffffffff, [], script_sig)],
              [(value, script_pubkey)] + list(extra_outputs))


def merkle_root(hashes):
    """Merkle root of 32-byte hashes in internal (little-endian) byte order, as Core's
    ComputeMerkleRoot (an odd last entry is paired with itself)."""
    if not hashes:
        return b"\x00" * 32
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def witness_merkle_root(txs):
    """BIP141 witness root: wtxids, the coinbase's counted as zero."""
    return merkle_root([b"\x00" * 32] + [bytes.fromhex(t.wtxid())[::-1] for t in txs[1:]])


def witness_commitment_script(txs, nonce=b"\x00" * 32):
    """The coinbase output script committing to the witnesses of `txs` (coinbase first)."""
    return WITNESS_COMMITMENT_PREFIX + dsha256(witness_merkle_root(txs) + nonce)


def bits_to_target(bits):
    exponent, mantissa = bits >> 24, bits & 0x007fffff
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))


class Block:
    """A block: header fields and transactions (Tx objects, coinbase first). merkle_root is
    None to compute it from the transactions, or 32 bytes (internal order) to force one."""

    def __init__(self, prev_hash, txs, timestamp, bits=REGTEST_BITS, version=0x20000000, nonce=0):
        self.version = version
        self.prev_hash = prev_hash
        self.txs = list(txs)
        self.timestamp = timestamp
        self.bits = bits
        self.nonce = nonce
        self.merkle_root = None

    def calc_merkle_root(self):
        return merkle_root([bytes.fromhex(t.txid())[::-1] for t in self.txs])

    def header(self):
        root = self.merkle_root if self.merkle_root is not None else self.calc_merkle_root()
        return (struct.pack("<i", self.version) + bytes.fromhex(self.prev_hash)[::-1] + root
                + struct.pack("<III", self.timestamp, self.bits, self.nonce))

    def hash(self):
        return dsha256(self.header())[::-1].hex()

    def serialize(self):
        return self.header() + ser_compact_size(len(self.txs)) + b"".join(t.serialize() for t in self.txs)

    def hex(self):
        return self.serialize().hex()

    def solve(self, valid_pow=True):
        """Grinds the nonce until the hash meets the target of `bits` (or, with
        valid_pow=False, until it misses it). Returns self."""
        header = bytearray(self.header())
        target = bits_to_target(self.bits)
        nonce = 0
        while (int.from_bytes(dsha256(bytes(header)), "little") <= target) != valid_pow:
            nonce += 1
            header[76:80] = struct.pack("<I", nonce)
        self.nonce = nonce
        return self


def add_witness_commitment(block, nonce=b"\x00" * 32):
    """Appends the BIP141 commitment output to the coinbase and sets its witness to [nonce]."""
    coinbase = block.txs[0]
    coinbase.outputs.append((0, witness_commitment_script(block.txs, nonce)))
    coinbase.set_witness(0, [nonce])


def create_block(prev_hash, timestamp, coinbase, txs=(), version=0x20000000, bits=REGTEST_BITS, witness_commitment=None):
    """A block (not yet solved) of the coinbase and txs. witness_commitment: True/False, or
    None to add the commitment only when some transaction has witness data."""
    block = Block(prev_hash, [coinbase] + list(txs), timestamp, bits=bits, version=version)
    if witness_commitment is None:
        witness_commitment = any(t.wtxid() != t.txid() for t in block.txs[1:])
    if witness_commitment:
        add_witness_commitment(block)
    return block
