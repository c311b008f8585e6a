//! Address rewriting: brokers advertise their own `host:port` in Metadata and
//! FindCoordinator responses, and a client that followed those addresses would go around
//! the proxies, out of reach of every fault. Each advertised address is replaced with the
//! address of the proxy in front of that broker.
//!
//! Pure functions over one response frame; the caller supplies the resolver that maps an
//! advertised address to a proxy port (starting a proxy if it has to).

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FindCoordinatorResponse, MetadataResponse, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The host every proxy listens on, and so the host a rewritten address names.
pub(crate) const PROXY_HOST: &str = "127.0.0.1";

/// What became of one response frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// The API advertises no addresses: forward the frame as it is.
    NotApplicable,
    /// The response decoded and every address it advertises already is a proxy's:
    /// forward the original bytes.
    Unchanged,
    /// Forward `frame` instead; it names proxies in place of `addresses` broker addresses.
    Rewritten {
        /// The re-encoded response frame (header and body).
        frame: Bytes,
        /// How many advertised addresses were replaced.
        addresses: u64,
    },
    /// The response did not decode, or would not re-encode: forward the original bytes.
    Undecodable(String),
}

/// Rewrites the advertised addresses in a response `frame` (without its length prefix)
/// answering a request of `api_key` at `version`. `resolve(host, port)` returns the port
/// of the proxy fronting that broker, or `None` to leave the address alone.
pub(crate) fn rewrite_response(
    api_key: i16,
    version: i16,
    frame: &Bytes,
    mut resolve: impl FnMut(&str, i32) -> Option<u16>,
) -> Rewrite {
    match ApiKey::try_from(api_key) {
        Ok(ApiKey::Metadata) => {
            rewrite_with::<MetadataResponse>(ApiKey::Metadata, version, frame, |response| {
                response
                    .brokers
                    .iter_mut()
                    .map(|broker| replace(&mut broker.host, &mut broker.port, &mut resolve))
                    .sum()
            })
        }
        Ok(ApiKey::FindCoordinator) => rewrite_with::<FindCoordinatorResponse>(
            ApiKey::FindCoordinator,
            version,
            frame,
            |response| {
                // v0-3 answer one key at top level; v4+ batch keys in `coordinators`
                // (KIP-699). The unused form is empty, which `replace` skips.
                let top = replace(&mut response.host, &mut response.port, &mut resolve);
                let batched: u64 = response
                    .coordinators
                    .iter_mut()
                    .map(|coordinator| {
                        replace(&mut coordinator.host, &mut coordinator.port, &mut resolve)
                    })
                    .sum();
                top + batched
            },
        ),
        _ => Rewrite::NotApplicable,
    }
}

/// Decodes header and body, lets `edit` replace addresses, and re-encodes with the same
/// header (correlation id and tagged fields kept) and version. Response header v1 for
/// flexible versions, v0 otherwise (Kafka protocol guide, "Headers").
fn rewrite_with<R: Decodable + Encodable>(
    api_key: ApiKey,
    version: i16,
    frame: &Bytes,
    edit: impl FnOnce(&mut R) -> u64,
) -> Rewrite {
    let header_version = api_key.response_header_version(version);
    let mut buf = frame.clone();
    let header = match ResponseHeader::decode(&mut buf, header_version) {
        Ok(header) => header,
        Err(e) => return Rewrite::Undecodable(format!("response header: {e}")),
    };
    let mut body = match R::decode(&mut buf, version) {
        Ok(body) => body,
        Err(e) => return Rewrite::Undecodable(format!("{api_key:?} v{version} body: {e}")),
    };
    // Bytes past the body mean we read it with the wrong schema; re-encoding would drop them.
    if buf.has_remaining() {
        return Rewrite::Undecodable(format!(
            "{api_key:?} v{version}: {} bytes after the body",
            buf.remaining()
        ));
    }
    let addresses = edit(&mut body);
    if addresses == 0 {
        return Rewrite::Unchanged;
    }
    let mut out = BytesMut::with_capacity(frame.len());
    if let Err(e) = header.encode(&mut out, header_version) {
        return Rewrite::Undecodable(format!("re-encoding the response header: {e}"));
    }
    if let Err(e) = body.encode(&mut out, version) {
        return Rewrite::Undecodable(format!("re-encoding {api_key:?} v{version}: {e}"));
    }
    Rewrite::Rewritten {
        frame: out.freeze(),
        addresses,
    }
}

/// Points one advertised address at its proxy; returns 1 if it changed.
fn replace(
    host: &mut StrBytes,
    port: &mut i32,
    resolve: &mut impl FnMut(&str, i32) -> Option<u16>,
) -> u64 {
    if !is_routable(host, *port) {
        return 0;
    }
    let Some(proxy_port) = resolve(host, *port) else {
        return 0;
    };
    if host.as_str() == PROXY_HOST && *port == i32::from(proxy_port) {
        return 0;
    }
    *host = StrBytes::from_static_str(PROXY_HOST);
    *port = i32::from(proxy_port);
    1
}

/// Whether an advertised address can name a broker at all: an error answer carries an
/// empty host and port -1 (FindCoordinator, Kafka protocol guide).
fn is_routable(host: &str, port: i32) -> bool {
    !host.is_empty() && (1..=i32::from(u16::MAX)).contains(&port)
}

/// Splits `host:port`, accepting `[v6]:port`. `None` if there is no numeric port.
pub(crate) fn split_address(address: &str) -> Option<(&str, i32)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, i32::from(port)))
}

/// Joins a host and port into an address `TcpStream::connect` accepts.
pub(crate) fn join_address(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Whether two addresses name the same broker: equal, or the same port on loopback under
/// two names (a broker configured with `localhost` advertises it even when the target file
/// says `127.0.0.1`).
pub(crate) fn same_broker(a: (&str, i32), b: (&str, i32)) -> bool {
    a.1 == b.1 && (a.0.eq_ignore_ascii_case(b.0) || (is_loopback(a.0) && is_loopback(b.0)))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::find_coordinator_response::Coordinator;
    use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
    use kafka_protocol::messages::{BrokerId, ResponseKind};

    use super::*;

    fn encode(api_key: ApiKey, version: i16, response: ResponseKind) -> Bytes {
        faultline_wire::codec::encode_response(api_key, version, 7, &response).unwrap()
    }

    fn broker(node_id: i32, host: &'static str, port: i32) -> MetadataResponseBroker {
        MetadataResponseBroker::default()
            .with_node_id(BrokerId(node_id))
            .with_host(StrBytes::from_static_str(host))
            .with_port(port)
    }

    /// Knows one broker, `localhost:9092`, behind proxy port 4000.
    fn known(host: &str, port: i32) -> Option<u16> {
        same_broker((host, port), ("localhost", 9092)).then_some(4000)
    }

    #[test]
    fn metadata_rewrites_known_brokers_at_every_version() {
        for version in 0..=13 {
            let response = MetadataResponse::default().with_brokers(vec![
                broker(1, "127.0.0.1", 9092),
                broker(2, "elsewhere", 9092),
            ]);
            let frame = encode(ApiKey::Metadata, version, ResponseKind::Metadata(response));
            let Rewrite::Rewritten { frame, addresses } =
                rewrite_response(3, version, &frame, known)
            else {
                panic!("v{version} not rewritten");
            };
            assert_eq!(addresses, 1);
            let decoded = faultline_wire::codec::decode_response::<
                kafka_protocol::messages::MetadataRequest,
            >(frame, version, 7)
            .unwrap();
            assert_eq!(decoded.brokers[0].host.as_str(), PROXY_HOST);
            assert_eq!(decoded.brokers[0].port, 4000);
            assert_eq!(decoded.brokers[1].host.as_str(), "elsewhere");
        }
    }

    #[test]
    fn find_coordinator_rewrites_both_forms() {
        for version in 0..=6 {
            let mut response = FindCoordinatorResponse::default();
            if version < 4 {
                response = response
                    .with_host(StrBytes::from_static_str("localhost"))
                    .with_port(9092);
            } else {
                response = response.with_coordinators(vec![Coordinator::default()
                    .with_host(StrBytes::from_static_str("localhost"))
                    .with_port(9092)]);
            }
            let frame = encode(
                ApiKey::FindCoordinator,
                version,
                ResponseKind::FindCoordinator(response),
            );
            let rewritten = rewrite_response(10, version, &frame, known);
            assert!(
                matches!(rewritten, Rewrite::Rewritten { addresses: 1, .. }),
                "v{version}: {rewritten:?}"
            );
        }
    }

    #[test]
    fn error_answers_and_other_apis_are_left_alone() {
        let error = FindCoordinatorResponse::default()
            .with_error_code(15)
            .with_port(-1);
        let frame = encode(
            ApiKey::FindCoordinator,
            2,
            ResponseKind::FindCoordinator(error),
        );
        assert_eq!(
            rewrite_response(10, 2, &frame, |_, _| Some(1)),
            Rewrite::Unchanged
        );
        assert_eq!(
            rewrite_response(0, 9, &frame, known),
            Rewrite::NotApplicable
        );
    }

    #[test]
    fn garbage_and_trailing_bytes_are_undecodable() {
        let garbage = Bytes::from_static(&[0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 1]);
        assert!(matches!(
            rewrite_response(3, 1, &garbage, known),
            Rewrite::Undecodable(_)
        ));
        let response = MetadataResponse::default().with_brokers(vec![broker(1, "localhost", 9092)]);
        let mut frame =
            BytesMut::from(&encode(ApiKey::Metadata, 1, ResponseKind::Metadata(response))[..]);
        frame.extend_from_slice(b"extra");
        assert!(matches!(
            rewrite_response(3, 1, &frame.freeze(), known),
            Rewrite::Undecodable(_)
        ));
    }

    #[test]
    fn addresses_split_join_and_match() {
        assert_eq!(split_address("broker-1:9092"), Some(("broker-1", 9092)));
        assert_eq!(split_address("[::1]:9092"), Some(("::1", 9092)));
        assert_eq!(split_address("no-port"), None);
        assert_eq!(join_address("::1", 9092), "[::1]:9092");
        assert!(same_broker(("localhost", 9092), ("127.0.0.1", 9092)));
        assert!(same_broker(("::1", 9092), ("LOCALHOST", 9092)));
        assert!(!same_broker(("localhost", 9092), ("127.0.0.1", 9093)));
        assert!(!same_broker(("broker-1", 9092), ("127.0.0.1", 9092)));
    }
}
