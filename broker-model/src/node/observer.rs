//! A seam through which a simulation watches the requests a broker answers, with the
//! broker's state just before the handler runs and just after the answer is built (the
//! protocol-rule checker of `sim/src/protocol/`, issue #14 item 2b). Nothing is observed
//! unless an observer is installed, so a real-process broker pays one `OnceLock` read per
//! request.

use kafka_protocol::messages::{RequestKind, ResponseKind};

use crate::broker::Broker;

/// What an observer keeps between a request and its answer: called with the answer, the
/// broker's state when the answer is built (no `.await` in between, so the state is the one
/// the answer was computed from) and the broker's clock then.
pub type PendingObservation = Box<dyn FnOnce(&ResponseKind, &Broker, u64) + Send>;

/// Watches requests and their answers.
pub trait RequestObserver: Send + Sync {
    /// Called with a decoded request, the broker's state before its handler runs and the
    /// broker's clock then (ms since the process started, at the node's drift rate, as the
    /// handlers read it); returns what to do with the answer, or `None` to ignore it.
    fn request(
        &self,
        request: &RequestKind,
        broker: &Broker,
        now_ms: u64,
    ) -> Option<PendingObservation>;
}
