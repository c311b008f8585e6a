//! Where a cluster process dials its peers. The brokers' configured addresses are the
//! ones they listen on and advertise; a route sends this process's connections to one of
//! them through another address instead — a fault proxy `faultline certify` runs for that
//! one link — so a partition can cut one broker off from the others while the rest of
//! the cluster is untouched.

use std::collections::BTreeMap;
use std::sync::Arc;

use faultline_wire::transport::{ConnectFuture, TokioTransport, Transport};

/// Real TCP, with some destinations reached through other addresses.
#[derive(Debug, Clone, Default)]
pub struct RoutedTransport {
    /// Configured address → address actually dialled.
    routes: Arc<BTreeMap<String, String>>,
}

impl RoutedTransport {
    /// Parses `ADDRESS=VIA` routes.
    pub fn parse(routes: &[String]) -> Result<RoutedTransport, String> {
        let mut table = BTreeMap::new();
        for route in routes {
            let (to, via) = route
                .split_once('=')
                .ok_or_else(|| format!("--route {route:?}: expected ADDRESS=VIA"))?;
            table.insert(to.trim().to_string(), via.trim().to_string());
        }
        Ok(RoutedTransport {
            routes: Arc::new(table),
        })
    }

    /// The address dialled to reach `address`.
    pub fn via(&self, address: &str) -> String {
        self.routes
            .get(address)
            .cloned()
            .unwrap_or_else(|| address.to_string())
    }
}

impl Transport for RoutedTransport {
    type Stream = tokio::net::TcpStream;

    fn connect(&self, address: &str) -> ConnectFuture<Self::Stream> {
        TokioTransport.connect(&self.via(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_replace_only_the_addresses_they_name() {
        let routes = RoutedTransport::parse(&["127.0.0.1:9093=127.0.0.1:29301".into()]).unwrap();
        assert_eq!(routes.via("127.0.0.1:9093"), "127.0.0.1:29301");
        assert_eq!(routes.via("127.0.0.1:9094"), "127.0.0.1:9094");
        assert!(RoutedTransport::parse(&["nonsense".into()]).is_err());
    }
}
