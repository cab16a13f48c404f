//! Borrowed bytes that archive exactly like `Vec<u8>`, so a handler can answer with
//! bytes it reads in place (one copy, straight into the outbound ring).

use rkyv::rancor::Fallible;
use rkyv::ser::{Allocator, Writer};
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{Archive, Place, Serialize};

/// A byte slice whose archive is an `ArchivedVec<u8>`.
#[derive(Debug, Clone, Copy)]
pub struct BytesRef<'a>(pub &'a [u8]);

impl Archive for BytesRef<'_> {
    type Archived = ArchivedVec<u8>;
    type Resolver = VecResolver;

    fn resolve(&self, resolver: VecResolver, out: Place<ArchivedVec<u8>>) {
        ArchivedVec::resolve_from_slice(self.0, resolver, out);
    }
}

impl<S: Fallible + Allocator + Writer + ?Sized> Serialize<S> for BytesRef<'_> {
    fn serialize(&self, serializer: &mut S) -> Result<VecResolver, S::Error> {
        ArchivedVec::<u8>::serialize_from_slice(self.0, serializer)
    }
}
