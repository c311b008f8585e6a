//! Sending requests as evidence: a [`Probe`] sends one request at a time on cached
//! connections and records every [`Exchange`] (request, response or what happened
//! instead), so a property that fails can show exactly what the broker said.
//!
//! Also the two small pieces every suite needs: choosing a request version both sides
//! speak, and building a [`PropertyResult`] from a [`Property`]'s id, title and citation.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Request;

use faultline_wire::connection::{connect, Connection};
use faultline_wire::{RequestError, Transport};

use super::SuiteTarget;
use crate::certify::model::{AdvertisedApi, Category, Evidence, Exchange, PropertyResult, Status};

/// How much of a rendered request or response an exchange keeps.
const RENDERED_BYTES_MAX: usize = 4_096;

/// Sends requests and keeps every exchange.
pub struct Probe<T: Transport> {
    transport: T,
    broker_name: Arc<dyn Fn(&str) -> String + Send + Sync>,
    started: tokio::time::Instant,
    /// The default per-request timeout.
    pub timeout: Duration,
    /// Open connections by the address we connected to; dropped after any error.
    connections: BTreeMap<String, Connection<T::Stream>>,
    /// Every exchange so far, in the order sent.
    pub exchanges: Vec<Exchange>,
}

impl<T: Transport> Probe<T> {
    /// A probe with no connections yet.
    pub fn new(transport: &T, target: &SuiteTarget) -> Self {
        Self::with_parts(
            transport,
            target.broker_name.clone(),
            target.started,
            target.request_timeout,
        )
    }

    /// A probe from its parts, for callers without a [`SuiteTarget`] yet.
    pub fn with_parts(
        transport: &T,
        broker_name: Arc<dyn Fn(&str) -> String + Send + Sync>,
        started: tokio::time::Instant,
        timeout: Duration,
    ) -> Self {
        Probe {
            transport: transport.clone(),
            broker_name,
            started,
            timeout,
            connections: BTreeMap::new(),
            exchanges: Vec::new(),
        }
    }

    /// Sends `request` to `address` at `version`, waiting at most the probe's timeout plus
    /// `extra_wait` (for calls the broker may legitimately hold: JoinGroup, long fetches).
    /// Records the exchange; on any failure drops the connection and returns what
    /// happened, rendered as the exchange shows it.
    pub async fn send<R>(
        &mut self,
        address: &str,
        request: &R,
        version: i16,
        extra_wait: Duration,
    ) -> Result<R::Response, String>
    where
        R: Request + Debug,
        R::Response: Debug,
    {
        let timeout = self.timeout + extra_wait;
        let at_ms = self.started.elapsed().as_millis() as u64;
        let outcome = match self.connection(address).await {
            Err(e) => Err(format!("could not connect: {}", describe_error(&e))),
            Ok(connection) => connection
                .send(request, version, timeout)
                .await
                .map_err(|e| describe_error(&e)),
        };
        if outcome.is_err() {
            self.connections.remove(address);
        }
        self.exchanges.push(Exchange {
            broker: (self.broker_name)(address),
            api: api_label(R::KEY),
            version,
            request: shorten(format!("{request:?}")),
            response: match &outcome {
                Ok(response) => shorten(format!("{response:?}")),
                Err(what) => what.clone(),
            },
            at_ms,
        });
        outcome
    }

    /// Sends two requests back to back on one connection to `address` (see
    /// [`Connection::send_pipelined`]) and records both exchanges.
    pub async fn send_pipelined<A, B>(
        &mut self,
        address: &str,
        first: (&A, i16),
        second: (&B, i16),
        extra_wait: Duration,
    ) -> (Result<A::Response, String>, Result<B::Response, String>)
    where
        A: Request + Debug,
        A::Response: Debug,
        B: Request + Debug,
        B::Response: Debug,
    {
        let timeout = self.timeout + extra_wait;
        let at_ms = self.started.elapsed().as_millis() as u64;
        let (a, b) = match self.connection(address).await {
            Err(e) => {
                let what = format!("could not connect: {}", describe_error(&e));
                (Err(what.clone()), Err(what))
            }
            Ok(connection) => {
                let (a, b) = connection.send_pipelined(first, second, timeout).await;
                (
                    a.map_err(|e| describe_error(&e)),
                    b.map_err(|e| describe_error(&e)),
                )
            }
        };
        if a.is_err() || b.is_err() {
            self.connections.remove(address);
        }
        let render = |outcome: Result<String, &String>| match outcome {
            Ok(text) => shorten(text),
            Err(what) => what.clone(),
        };
        let broker = (self.broker_name)(address);
        self.exchanges.push(Exchange {
            broker: broker.clone(),
            api: api_label(A::KEY),
            version: first.1,
            request: shorten(format!("{:?}", first.0)),
            response: render(a.as_ref().map(|r| format!("{r:?}"))),
            at_ms,
        });
        self.exchanges.push(Exchange {
            broker,
            api: api_label(B::KEY),
            version: second.1,
            request: shorten(format!(
                "{:?} (pipelined right behind the previous request)",
                second.0
            )),
            response: render(b.as_ref().map(|r| format!("{r:?}"))),
            at_ms,
        });
        (a, b)
    }

    /// Closes the connection to `address`, so the next request opens a fresh one.
    pub fn disconnect(&mut self, address: &str) {
        self.connections.remove(address);
    }

    /// Evidence with `summary` and every exchange so far.
    pub fn evidence(&self, summary: impl Into<String>) -> Evidence {
        Evidence {
            summary: summary.into(),
            exchanges: self.exchanges.clone(),
            history: Vec::new(),
        }
    }

    /// Evidence with `summary` and only the exchanges at `indexes` (in that order).
    pub fn evidence_of(&self, summary: impl Into<String>, indexes: &[usize]) -> Evidence {
        Evidence {
            summary: summary.into(),
            exchanges: indexes
                .iter()
                .filter_map(|&i| self.exchanges.get(i).cloned())
                .collect(),
            history: Vec::new(),
        }
    }

    /// Evidence with `summary` and the exchanges recorded since index `from`.
    pub fn evidence_since(&self, summary: impl Into<String>, from: usize) -> Evidence {
        let indexes: Vec<usize> = (from..self.exchanges.len()).collect();
        self.evidence_of(summary, &indexes)
    }

    async fn connection(
        &mut self,
        address: &str,
    ) -> Result<&mut Connection<T::Stream>, RequestError> {
        if !self.connections.contains_key(address) {
            let connection =
                connect(&self.transport, address, "faultline-certify", self.timeout).await?;
            self.connections.insert(address.to_string(), connection);
        }
        Ok(self
            .connections
            .get_mut(address)
            .expect("inserted just above"))
    }
}

/// What a failed request looked like, as evidence renders it: `timeout after 5s`,
/// `connection closed`, `undecodable response: ...`.
pub fn describe_error(error: &RequestError) -> String {
    match error {
        RequestError::Timeout(after) => format!("timeout after {after:?}"),
        RequestError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "connection closed".to_string()
        }
        RequestError::Io(e) => format!("connection error: {e}"),
        RequestError::Decode(e) => format!("undecodable response: {e}"),
        RequestError::Encode(e) => format!("not sent (could not encode): {e}"),
    }
}

/// `Produce (0)`, or `unknown (K)` for a key kafka-protocol does not know.
pub fn api_label(key: i16) -> String {
    match ApiKey::try_from(key) {
        Ok(api) => format!("{api:?} ({key})"),
        Err(()) => format!("unknown ({key})"),
    }
}

/// Keeps the first few KB of a rendering, cut on a character boundary.
pub fn shorten(mut text: String) -> String {
    if text.len() > RENDERED_BYTES_MAX {
        let mut cut = RENDERED_BYTES_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let dropped = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!("… ({dropped} more bytes)"));
    }
    text
}

/// The highest version of `api` that the broker advertises, kafka-protocol encodes, and
/// lies in `floor..=ceiling` (what the calling test needs and knows how to read); `None`
/// when there is none. The protocol guide ("Versioning and Compatibility"): a client uses
/// the highest version both sides support.
pub fn choose_version(
    advertised: &[AdvertisedApi],
    api: ApiKey,
    floor: i16,
    ceiling: i16,
) -> Option<i16> {
    let ours = api.valid_versions();
    let theirs = advertised.iter().find(|a| a.key == api as i16)?;
    let low = floor.max(ours.min).max(theirs.min_version);
    let high = ceiling.min(ours.max).min(theirs.max_version);
    (low <= high).then_some(high)
}

/// Why a property needing `api` does not apply, when [`choose_version`] found none.
pub fn no_version_reason(
    advertised: &[AdvertisedApi],
    api: ApiKey,
    floor: i16,
    ceiling: i16,
) -> String {
    match advertised.iter().find(|a| a.key == api as i16) {
        None => format!("the broker does not advertise {api:?} (key {})", api as i16),
        Some(a) => format!(
            "the broker advertises {api:?} v{}..=v{}, and this test needs a version in v{floor}..=v{ceiling}",
            a.min_version, a.max_version
        ),
    }
}

/// A property's fixed parts: its id, title and citation.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    /// The stable id, e.g. `produce.offsets-contiguous`.
    pub id: &'static str,
    /// What it says.
    pub title: &'static str,
    /// Where the rule comes from.
    pub citation: &'static str,
}

impl Property {
    /// The property held.
    pub fn pass(&self, detail: impl Into<String>) -> PropertyResult {
        self.result(Status::Pass, detail.into(), Vec::new())
    }

    /// The property was broken, as `evidence` shows.
    pub fn fail(&self, detail: impl Into<String>, evidence: Evidence) -> PropertyResult {
        self.result(Status::Fail, detail.into(), vec![evidence])
    }

    /// The property does not apply, and why.
    pub fn not_applicable(&self, why: impl Into<String>) -> PropertyResult {
        PropertyResult::not_applicable(self.id, self.title, Category::Protocol, self.citation, why)
    }

    fn result(&self, status: Status, detail: String, evidence: Vec<Evidence>) -> PropertyResult {
        PropertyResult {
            id: self.id.to_string(),
            title: self.title.to_string(),
            category: Category::Protocol,
            citation: self.citation.to_string(),
            status,
            detail,
            evidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advertised(key: ApiKey, min: i16, max: i16) -> Vec<AdvertisedApi> {
        vec![AdvertisedApi {
            key: key as i16,
            name: format!("{key:?}"),
            min_version: min,
            max_version: max,
        }]
    }

    #[test]
    fn the_highest_common_version_wins_within_the_tests_bounds() {
        let apis = advertised(ApiKey::Produce, 0, 11);
        assert_eq!(choose_version(&apis, ApiKey::Produce, 3, 9), Some(9));
        assert_eq!(choose_version(&apis, ApiKey::Produce, 3, 20), Some(11));
        assert_eq!(choose_version(&apis, ApiKey::Produce, 12, 13), None);
        assert_eq!(choose_version(&apis, ApiKey::Fetch, 4, 12), None);
        assert!(no_version_reason(&apis, ApiKey::Fetch, 4, 12).contains("does not advertise"));
    }

    #[test]
    fn long_renderings_are_cut_on_a_character_boundary() {
        let text = "é".repeat(RENDERED_BYTES_MAX);
        let short = shorten(text);
        assert!(short.len() < RENDERED_BYTES_MAX + 40);
        assert!(short.ends_with("more bytes)"));
    }
}
