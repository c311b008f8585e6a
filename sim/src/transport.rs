//! turmoil's simulated TCP as the wire's [`Transport`]: what the broker's replica
//! fetchers and controller channel, and every workload client, connect through inside
//! the simulation.

use faultline_wire::transport::ConnectFuture;
use faultline_wire::Transport;

/// turmoil's TCP as a [`Transport`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TurmoilTransport;

impl Transport for TurmoilTransport {
    type Stream = turmoil::net::TcpStream;

    fn connect(&self, address: &str) -> ConnectFuture<Self::Stream> {
        let address = address.to_string();
        Box::pin(async move { turmoil::net::TcpStream::connect(address).await })
    }
}
