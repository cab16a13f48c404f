//! `Echo`: returns its argument; used by tests and overhead benchmarks.

/// Returns what it is given.
pub trait Echo: Send + Sync {
    /// Returns `message` unchanged.
    fn echo(&self, message: &[u8]) -> Vec<u8>;
}

/// The in-process [`Echo`].
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalEcho;

impl Echo for LocalEcho {
    fn echo(&self, message: &[u8]) -> Vec<u8> {
        message.to_vec()
    }
}
