//! Frame headers and the typed message traits.
//!
//! On the wire (ring record or socket), a frame is a [`RecordHeader`](crate::ring::RecordHeader)
//! whose length covers a 24-byte [`FrameHeader`] and the rkyv archive that follows it.
//! With the 8-byte record header that puts the archive at offset 32, so it is 16-aligned.

use std::fmt::Debug;

use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::{Positional, Writer};
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Portable, Serialize};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of [`FrameHeader`] on the wire.
pub const FRAME_HEADER_SIZE: usize = 24;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A call from the thread that started its chain.
    Request = 1,
    /// The successful result of a call.
    Response = 2,
    /// A failed call: the archive is a [`RemoteError`].
    Error = 3,
    /// A nested call back into a thread that is waiting in an outgoing call.
    Callback = 4,
    /// The sender is closing the connection.
    Close = 5,
}

impl Kind {
    /// Parses the kind byte of a frame header.
    pub fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Request,
            2 => Kind::Response,
            3 => Kind::Error,
            4 => Kind::Callback,
            5 => Kind::Close,
            _ => return None,
        })
    }

    /// Short lowercase name, used in logs and traces.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Response => "response",
            Kind::Error => "error",
            Kind::Callback => "callback",
            Kind::Close => "close",
        }
    }
}

/// More chunks of the same message follow this frame.
pub const FLAG_MORE: u8 = 1;

/// The fixed header of every frame.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct FrameHeader {
    /// Matches a response to its request; unique per connection side.
    pub call_id: u64,
    /// Logical thread of the call chain (see `conn`), used to route nested calls.
    pub thread: u64,
    /// Interface id.
    pub interface: u16,
    /// Method id within the interface.
    pub method: u16,
    /// A [`Kind`] byte.
    pub kind: u8,
    /// [`FLAG_MORE`] or 0.
    pub flags: u8,
    /// Zero.
    pub reserved: u16,
}

impl FrameHeader {
    /// Parses and validates a header copied out of untrusted memory.
    pub fn parse(bytes: &[u8; FRAME_HEADER_SIZE]) -> Result<(FrameHeader, Kind), String> {
        let header = FrameHeader::read_from_bytes(bytes).expect("exact size");
        let kind = Kind::from_byte(header.kind)
            .ok_or_else(|| format!("unknown frame kind {}", header.kind))?;
        if header.flags & !FLAG_MORE != 0 || header.reserved != 0 {
            return Err(format!(
                "bad frame flags {:#x}/{:#x}",
                header.flags, header.reserved
            ));
        }
        Ok((header, kind))
    }
}

/// Error carried back to a caller when a remote handler fails or panics.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// One of the `ERR_*` codes.
    pub code: u32,
    /// Human-readable description.
    pub message: String,
}

/// The handler returned an error.
pub const ERR_HANDLER: u32 = 1;
/// The handler panicked.
pub const ERR_PANIC: u32 = 2;
/// No service or method with that id.
pub const ERR_UNKNOWN_METHOD: u32 = 3;
/// The request archive failed validation.
pub const ERR_BAD_REQUEST: u32 = 4;
/// The request named a thread that is not waiting, or too many threads.
pub const ERR_BAD_THREAD: u32 = 5;

/// Where serialization writes: straight into reserved ring space, or into a growable
/// buffer when the message does not fit.
pub struct Sink<'v> {
    raw: *mut u8,
    raw_capacity: usize,
    pos: usize,
    vec: Option<&'v mut AlignedVec<16>>,
}

impl<'v> Sink<'v> {
    /// A sink over `capacity` bytes at `raw`, which must be 16-aligned and writable.
    pub(crate) fn raw(raw: *mut u8, capacity: usize) -> Sink<'static> {
        Sink {
            raw,
            raw_capacity: capacity,
            pos: 0,
            vec: None,
        }
    }

    /// A sink appending to `vec`, which starts empty.
    pub(crate) fn vec(vec: &'v mut AlignedVec<16>) -> Sink<'v> {
        vec.clear();
        Sink {
            raw: std::ptr::null_mut(),
            raw_capacity: 0,
            pos: 0,
            vec: Some(vec),
        }
    }
}

#[derive(Debug)]
struct SinkFull;

impl std::fmt::Display for SinkFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reserved ring space is full")
    }
}

impl std::error::Error for SinkFull {}

impl Positional for Sink<'_> {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl Writer<rancor::Error> for Sink<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), rancor::Error> {
        match &mut self.vec {
            Some(vec) => vec.extend_from_slice(bytes),
            None => {
                if bytes.len() > self.raw_capacity - self.pos {
                    return Err(<rancor::Error as rancor::Source>::new(SinkFull));
                }
                // SAFETY: bounds checked above; the grant is ours until committed. Raw
                // copies, never a `&mut` into memory the peer could touch.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        self.raw.add(self.pos),
                        bytes.len(),
                    )
                };
            }
        }
        self.pos += bytes.len();
        Ok(())
    }
}

/// The serializer messages are written with.
pub type WireSerializer<'a, 'v> = HighSerializer<Sink<'v>, ArenaHandle<'a>, rancor::Error>;

/// A type that can cross a connection: serializable into a [`Sink`], validated on receipt,
/// and deserializable back.
pub trait Wire:
    Archive<
        Archived: Portable
                      + for<'b> CheckBytes<HighValidator<'b, rancor::Error>>
                      + Deserialize<Self, HighDeserializer<rancor::Error>>,
    > + for<'a, 'v> Serialize<WireSerializer<'a, 'v>>
    + Debug
    + Sized
{
}

impl<T> Wire for T where
    T: Archive<
            Archived: Portable
                          + for<'b> CheckBytes<HighValidator<'b, rancor::Error>>
                          + Deserialize<T, HighDeserializer<rancor::Error>>,
        > + for<'a, 'v> Serialize<WireSerializer<'a, 'v>>
        + Debug
{
}

/// One method of an interface: ids, names and the types of its parameters and results.
pub trait Method: 'static {
    /// Interface id, unique per connection.
    const INTERFACE: u16;
    /// Interface name for logs, e.g. `Echo`.
    const INTERFACE_NAME: &'static str;
    /// Method id within the interface.
    const ID: u16;
    /// Method name for logs, e.g. `echo`.
    const NAME: &'static str;
    /// What the caller sends.
    type Params: Wire;
    /// What the handler returns.
    type Results: Wire;
}

/// Serializes `value` into `sink`, returning the archive length.
pub(crate) fn serialize<T: Wire>(value: &T, sink: Sink<'_>) -> Result<usize, rancor::Error> {
    rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, sink).map(|sink| sink.pos)
}

/// Validates an archive and returns a reference to its root.
pub fn access<T: Wire>(bytes: &[u8]) -> Result<&T::Archived, String> {
    rkyv::access::<T::Archived, rancor::Error>(bytes).map_err(|e| format!("invalid archive: {e}"))
}

/// Deserializes an archived value into its owned form.
pub fn deserialize<T: Wire>(archived: &T::Archived) -> Result<T, String> {
    rkyv::deserialize::<T, rancor::Error>(archived).map_err(|e| format!("deserialize: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejects_garbage() {
        let header = FrameHeader {
            call_id: 7,
            thread: 1 << 63 | 3,
            interface: 2,
            method: 9,
            kind: Kind::Callback as u8,
            flags: FLAG_MORE,
            reserved: 0,
        };
        let bytes: [u8; FRAME_HEADER_SIZE] = header.as_bytes().try_into().unwrap();
        let (parsed, kind) = FrameHeader::parse(&bytes).unwrap();
        assert_eq!(kind, Kind::Callback);
        assert_eq!(parsed.call_id, 7);
        let mut bad = bytes;
        bad[20] = 0;
        assert!(FrameHeader::parse(&bad).is_err());
        let mut bad = bytes;
        bad[21] = 0x80;
        assert!(FrameHeader::parse(&bad).is_err());
    }

    #[test]
    fn raw_sink_overflow_is_an_error() {
        let mut buf = AlignedVec::<16>::with_capacity(64);
        buf.resize(64, 0);
        let sink = Sink::raw(buf.as_mut_ptr(), 16);
        assert!(serialize(&vec![1u8; 100], sink).is_err());
        let sink = Sink::raw(buf.as_mut_ptr(), 64);
        let len = serialize(&vec![1u8; 8], sink).unwrap();
        let archived = access::<Vec<u8>>(&buf[..len]).unwrap();
        assert_eq!(archived.as_slice(), &[1u8; 8]);
    }
}
