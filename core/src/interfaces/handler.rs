//! Registration handles returned by `handle_notifications` and `handle_rpc`.

/// Keeps a registration alive; dropping it (or calling [`Handler::disconnect`]) undoes it,
/// like Core's `interfaces::Handler`.
#[must_use = "dropping a Handler undoes the registration at once"]
pub struct Handler {
    undo: Option<Box<dyn FnOnce() + Send>>,
}

impl Handler {
    /// A handle that runs `undo` once, on disconnect or drop.
    pub fn new(undo: impl FnOnce() + Send + 'static) -> Self {
        Handler {
            undo: Some(Box::new(undo)),
        }
    }

    /// Undoes the registration now; later calls and the drop do nothing.
    pub fn disconnect(&mut self) {
        if let Some(undo) = self.undo.take() {
            undo();
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.disconnect();
    }
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("connected", &self.undo.is_some())
            .finish()
    }
}
