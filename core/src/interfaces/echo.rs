//! `Echo`: returns its argument; used by tests and overhead benchmarks.

/// Returns what it is given.
pub trait Echo: Send + Sync {
    /// Returns `message` unchanged; fails only when a remote echo is unreachable.
    fn echo(&self, message: &[u8]) -> Result<Vec<u8>, String>;
}

/// The in-process [`Echo`].
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalEcho;

impl Echo for LocalEcho {
    fn echo(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        Ok(message.to_vec())
    }
}
