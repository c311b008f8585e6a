//! A seam through which a simulation watches the requests a broker answers, with the
//! broker's state just before the handler runs and just after the answer is built (the
//! protocol-rule checker of `sim/src/protocol/`, issue #14 item 2b). Nothing is observed
//! unless an observer is installed, so a real-process broker pays one `OnceLock` read per
//! request.

use kafka_protocol::messages::{RequestKind, ResponseKind};

use crate::broker::Broker;

/// What an observer keeps between a request and its answer: called with the answer and the
/// broker's state when the answer is built (no `.await` in between, so the state is the one
/// the answer was computed from).
pub type PendingObservation = Box<dyn FnOnce(&ResponseKind, &Broker) + Send>;

/// Watches requests and their answers.
pub trait RequestObserver: Send + Sync {
    /// Called with a decoded request and the broker's state before its handler runs;
    /// returns what to do with the answer, or `None` to ignore this request.
    fn request(&self, request: &RequestKind, broker: &Broker) -> Option<PendingObservation>;
}
