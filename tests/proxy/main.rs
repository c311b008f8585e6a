//! The certification fault proxy over real loopback TCP: a fake broker written here
//! answers ApiVersions, Metadata and FindCoordinator with real `kafka-protocol`
//! responses, and faultline's own client talks to it through the proxy.
//!
//! Timing assertions are lower bounds only (a latency fault delays by at least its
//! duration); timeouts are short so that a black hole costs the suite little.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use faultline_conformance::certify::{LinkFault, ProxyCluster};
use faultline_wire::alloc_guard::GuardedAllocator;
use faultline_wire::codec::{decode_request, encode_request, encode_response};
use faultline_wire::connection::{connect, Connection};
use faultline_wire::frame::{read_frame, write_frame};
use faultline_wire::transport::TokioTransport;
use faultline_wire::RequestError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, BrokerId, FindCoordinatorRequest,
    FindCoordinatorResponse, MetadataRequest, MetadataResponse, RequestKind, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use tokio::net::{TcpListener, TcpStream};

// The fake broker sends a hostile array count; the proxy decodes it as certify would.
#[global_allocator]
static ALLOCATOR: GuardedAllocator = GuardedAllocator;

/// Long enough for any loopback exchange; a request that takes it has been swallowed.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a black-holed request is given before it counts as timed out.
const SHORT_TIMEOUT: Duration = Duration::from_millis(300);

/// How the fake broker answers Metadata.
#[derive(Debug, Clone)]
enum Metadata {
    /// A real response advertising itself (as `localhost`) and `extra`.
    Normal,
    /// This body after the correlation id: does not decode as a Metadata response.
    Raw(Bytes),
    /// A frame length no broker may send, then junk.
    BadFrame,
}

/// A fake broker on loopback.
#[derive(Clone)]
struct FakeBroker {
    /// `127.0.0.1:port`, as the target file would name it.
    address: String,
    /// The port of `address`, which its Metadata advertises under `localhost`.
    port: u16,
    /// A second address its Metadata advertises, unknown to the proxies.
    extra: Arc<Mutex<Option<(String, i32)>>>,
    /// How it answers Metadata; tests switch it.
    metadata: Arc<Mutex<Metadata>>,
}

impl FakeBroker {
    async fn start() -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let broker = FakeBroker {
            address: format!("127.0.0.1:{port}"),
            port,
            extra: Arc::default(),
            metadata: Arc::new(Mutex::new(Metadata::Normal)),
        };
        let serving = broker.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(stream));
            }
        });
        broker
    }

    fn metadata(&self) -> Metadata {
        self.metadata.lock().unwrap().clone()
    }

    fn set_metadata(&self, metadata: Metadata) {
        *self.metadata.lock().unwrap() = metadata;
    }

    async fn serve(self, mut stream: TcpStream) {
        while let Ok(Some(frame)) = read_frame(&mut stream).await {
            let request = decode_request(frame).unwrap();
            let version = request.header.request_api_version;
            let correlation_id = request.header.correlation_id;
            let response = match request.body {
                RequestKind::ApiVersions(_) => {
                    ResponseKind::ApiVersions(ApiVersionsResponse::default())
                }
                RequestKind::Metadata(_) => match self.metadata() {
                    Metadata::Normal => ResponseKind::Metadata(self.metadata_response()),
                    Metadata::Raw(body) => {
                        let mut frame = correlation_id.to_be_bytes().to_vec();
                        frame.extend_from_slice(&body);
                        let _ = write_frame(&mut stream, &frame).await;
                        continue;
                    }
                    Metadata::BadFrame => {
                        use tokio::io::AsyncWriteExt;
                        let _ = stream.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).await;
                        continue;
                    }
                },
                RequestKind::FindCoordinator(request) => {
                    ResponseKind::FindCoordinator(self.coordinator_response(version, &request))
                }
                other => panic!("the fake broker does not answer {other:?}"),
            };
            let frame = encode_response(request.api_key, version, correlation_id, &response);
            if write_frame(&mut stream, &frame.unwrap()).await.is_err() {
                return;
            }
        }
    }

    fn metadata_response(&self) -> MetadataResponse {
        let mut brokers = vec![broker(1, "localhost", i32::from(self.port))];
        if let Some((host, port)) = self.extra.lock().unwrap().clone() {
            brokers.push(broker(2, &host, port));
        }
        MetadataResponse::default().with_brokers(brokers)
    }

    fn coordinator_response(
        &self,
        version: i16,
        request: &FindCoordinatorRequest,
    ) -> FindCoordinatorResponse {
        let host = StrBytes::from_static_str("localhost");
        let port = i32::from(self.port);
        if version < 4 {
            FindCoordinatorResponse::default()
                .with_node_id(BrokerId(1))
                .with_host(host)
                .with_port(port)
        } else {
            let coordinators = request
                .coordinator_keys
                .iter()
                .map(|key| {
                    Coordinator::default()
                        .with_key(key.clone())
                        .with_node_id(BrokerId(1))
                        .with_host(host.clone())
                        .with_port(port)
                })
                .collect();
            FindCoordinatorResponse::default().with_coordinators(coordinators)
        }
    }
}

fn broker(node_id: i32, host: &str, port: i32) -> MetadataResponseBroker {
    MetadataResponseBroker::default()
        .with_node_id(BrokerId(node_id))
        .with_host(StrBytes::from_string(host.to_string()))
        .with_port(port)
}

async fn client(address: &str) -> Connection<TcpStream> {
    connect(&TokioTransport, address, "proxy-test", TIMEOUT)
        .await
        .unwrap()
}

async fn api_versions(
    connection: &mut Connection<TcpStream>,
    timeout: Duration,
) -> Result<ApiVersionsResponse, RequestError> {
    connection
        .send(&ApiVersionsRequest::default(), 0, timeout)
        .await
}

/// One fake broker behind one proxy.
async fn one_broker() -> (FakeBroker, ProxyCluster, String) {
    let broker = FakeBroker::start().await;
    let cluster = ProxyCluster::start(std::slice::from_ref(&broker.address))
        .await
        .unwrap();
    let proxy = cluster.proxy_for(&broker.address).unwrap();
    assert_eq!(cluster.bootstrap(), vec![proxy.clone()]);
    (broker, cluster, proxy)
}

fn port_of(address: &str) -> i32 {
    address.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The request failed because the connection closed, not by waiting out the timeout.
fn closed(result: Result<ApiVersionsResponse, RequestError>) -> bool {
    matches!(result, Err(RequestError::Io(_)))
}

#[tokio::test]
async fn metadata_advertises_proxies_and_discovered_brokers_get_their_own() {
    let (broker, cluster, proxy) = one_broker().await;
    let unknown = FakeBroker::start().await;
    *broker.extra.lock().unwrap() = Some(("127.0.0.1".into(), i32::from(unknown.port)));
    let mut connection = client(&proxy).await;
    for version in [1, 12] {
        let response = connection
            .send(&MetadataRequest::default(), version, TIMEOUT)
            .await
            .unwrap();
        let advertised: Vec<(String, i32)> = response
            .brokers
            .iter()
            .map(|b| (b.host.to_string(), b.port))
            .collect();
        let discovered = cluster.proxy_for(&unknown.address).unwrap();
        assert_eq!(
            advertised,
            vec![
                ("127.0.0.1".to_string(), port_of(&proxy)),
                ("127.0.0.1".to_string(), port_of(&discovered)),
            ],
            "Metadata v{version}"
        );
        assert_eq!(
            cluster.upstream_for(&discovered),
            Some(unknown.address.clone())
        );
    }
    let stats = cluster.stats();
    assert_eq!(
        stats.proxies_discovered, 1,
        "one proxy per discovered broker"
    );
    assert_eq!(stats.addresses_rewritten, 4);
    assert_eq!(cluster.bootstrap(), vec![proxy.clone()]);
    assert_eq!(cluster.upstream_for(&proxy), Some(broker.address.clone()));
    // The discovered broker is reached through its proxy, and can be faulted there.
    let discovered = cluster.proxy_for(&unknown.address).unwrap();
    let mut through = client(&discovered).await;
    api_versions(&mut through, TIMEOUT).await.unwrap();
    cluster.set_fault(&unknown.address, LinkFault::Partition);
    assert!(closed(api_versions(&mut through, TIMEOUT).await));
}

#[tokio::test]
async fn find_coordinator_is_rewritten_at_v2_and_v4() {
    let (_broker, _cluster, proxy) = one_broker().await;
    let mut connection = client(&proxy).await;
    let v2 = connection
        .send(
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("group")),
            2,
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!((v2.host.as_str(), v2.port), ("127.0.0.1", port_of(&proxy)));
    let v4 = connection
        .send(
            &FindCoordinatorRequest::default()
                .with_coordinator_keys(vec![StrBytes::from_static_str("group")]),
            4,
            TIMEOUT,
        )
        .await
        .unwrap();
    let coordinator = &v4.coordinators[0];
    assert_eq!(
        (coordinator.host.as_str(), coordinator.port),
        ("127.0.0.1", port_of(&proxy))
    );
}

#[tokio::test]
async fn partition_fails_fast_and_healing_restores_service() {
    let (broker, cluster, proxy) = one_broker().await;
    let mut connection = client(&proxy).await;
    api_versions(&mut connection, TIMEOUT).await.unwrap();
    cluster.set_fault(&broker.address, LinkFault::Partition);
    assert!(closed(api_versions(&mut connection, TIMEOUT).await));
    let mut during = client(&proxy).await;
    assert!(closed(api_versions(&mut during, TIMEOUT).await));
    assert!(cluster.stats().connections_refused >= 1);
    cluster.set_fault(&broker.address, LinkFault::None);
    let mut after = client(&proxy).await;
    api_versions(&mut after, TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn black_hole_times_out_and_healing_closes_what_it_swallowed() {
    let (_broker, cluster, proxy) = one_broker().await;
    let mut existing = client(&proxy).await;
    api_versions(&mut existing, TIMEOUT).await.unwrap();
    cluster.set_all(LinkFault::BlackHole);
    let result = api_versions(&mut existing, SHORT_TIMEOUT).await;
    assert!(
        matches!(result, Err(RequestError::Timeout(_))),
        "{result:?}"
    );
    let mut during = client(&proxy).await;
    let result = api_versions(&mut during, SHORT_TIMEOUT).await;
    assert!(
        matches!(result, Err(RequestError::Timeout(_))),
        "{result:?}"
    );
    assert!(cluster.stats().frames_swallowed >= 1);
    cluster.set_all(LinkFault::None);
    let mut healed = client(&proxy).await;
    api_versions(&mut healed, TIMEOUT).await.unwrap();
    // The swallowed-from connection is closed, not left out of step.
    assert!(closed(api_versions(&mut existing, TIMEOUT).await));
}

#[tokio::test]
async fn latency_delays_a_round_trip_by_at_least_the_latency() {
    let (broker, cluster, proxy) = one_broker().await;
    let latency = Duration::from_millis(150);
    let mut connection = client(&proxy).await;
    cluster.set_fault(&broker.address, LinkFault::Latency(latency));
    let started = tokio::time::Instant::now();
    api_versions(&mut connection, TIMEOUT).await.unwrap();
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
}

#[tokio::test]
async fn reset_closes_an_open_connection_once() {
    let (broker, cluster, proxy) = one_broker().await;
    let mut connection = client(&proxy).await;
    api_versions(&mut connection, TIMEOUT).await.unwrap();
    cluster.reset(&broker.address);
    assert!(closed(api_versions(&mut connection, TIMEOUT).await));
    let mut next = client(&proxy).await;
    api_versions(&mut next, TIMEOUT).await.unwrap();
    assert_eq!(cluster.stats().connections_cut, 1);
}

#[tokio::test]
async fn undecodable_metadata_is_forwarded_unchanged_and_counted() {
    let (broker, cluster, proxy) = one_broker().await;
    let body = Bytes::from_static(b"\x00\x00\x00\x01not a metadata response");
    broker.set_metadata(Metadata::Raw(body.clone()));
    let mut stream = TcpStream::connect(&proxy).await.unwrap();
    let request = encode_request(&MetadataRequest::default(), 1, 42, "raw").unwrap();
    write_frame(&mut stream, &request).await.unwrap();
    let response = read_frame(&mut stream).await.unwrap().unwrap();
    assert_eq!(&response[..4], &42i32.to_be_bytes());
    assert_eq!(&response[4..], &body[..]);
    assert_eq!(cluster.stats().responses_undecodable, 1);
}

#[tokio::test]
async fn garbage_from_the_broker_does_not_panic_the_proxy() {
    let (broker, cluster, proxy) = one_broker().await;
    // A broker array claiming 2^31-1 entries in a 5-byte body.
    let hostile = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0]);
    broker.set_metadata(Metadata::Raw(hostile));
    let mut connection = client(&proxy).await;
    let result = connection
        .send(&MetadataRequest::default(), 1, TIMEOUT)
        .await;
    assert!(matches!(result, Err(RequestError::Decode(_))), "{result:?}");
    broker.set_metadata(Metadata::BadFrame);
    let mut connection = client(&proxy).await;
    let result = connection
        .send(&MetadataRequest::default(), 12, TIMEOUT)
        .await;
    assert!(matches!(result, Err(RequestError::Io(_))), "{result:?}");
    broker.set_metadata(Metadata::Normal);
    let mut connection = client(&proxy).await;
    connection
        .send(&MetadataRequest::default(), 12, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(cluster.stats().responses_undecodable, 1);
}

#[tokio::test]
async fn an_unreachable_broker_closes_the_client_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let cluster = ProxyCluster::start(std::slice::from_ref(&address))
        .await
        .unwrap();
    let mut connection = client(&cluster.bootstrap()[0]).await;
    assert!(closed(api_versions(&mut connection, TIMEOUT).await));
    assert_eq!(cluster.stats().upstream_connect_failures, 1);
}

#[tokio::test]
async fn shutdown_closes_connections_and_stops_listening() {
    let (_broker, cluster, proxy) = one_broker().await;
    let mut connection = client(&proxy).await;
    api_versions(&mut connection, TIMEOUT).await.unwrap();
    cluster.shutdown();
    assert!(closed(api_versions(&mut connection, TIMEOUT).await));
    // The listener is gone once its accept loop has seen the shutdown.
    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(&proxy).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the proxy still accepts after shutdown");
}

/// A free loopback address (bound, then released) for a link proxy's fixed `listen`.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `[[link]]` proxies listen where the target file says (brokers were told to dial there
/// before any proxy existed), and a fault on one link leaves another link to the same
/// broker alone: a peer-partition cuts one broker's links, not its peers' links to others.
#[tokio::test]
async fn link_proxies_listen_on_fixed_addresses_and_fault_one_link_at_a_time() {
    let broker = FakeBroker::start().await;
    let (first, second) = (free_address(), free_address());
    let links = ProxyCluster::start_links(&[
        (first.clone(), broker.address.clone()),
        (second.clone(), broker.address.clone()),
    ])
    .await
    .unwrap();
    let mut through_first = client(&first).await;
    let mut through_second = client(&second).await;
    api_versions(&mut through_first, TIMEOUT).await.unwrap();
    api_versions(&mut through_second, TIMEOUT).await.unwrap();
    links.set_fault_at(&first, LinkFault::Partition);
    assert!(closed(api_versions(&mut through_first, TIMEOUT).await));
    api_versions(&mut through_second, TIMEOUT).await.unwrap();
    links.set_fault_at(&first, LinkFault::None);
    let mut healed = client(&first).await;
    api_versions(&mut healed, TIMEOUT).await.unwrap();
    links.shutdown();
}
