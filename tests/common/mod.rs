//! Helpers shared by the integration tests that talk real TCP.

#![allow(dead_code)]

use std::net::TcpListener;

/// Finds `count` consecutive free loopback ports.
pub fn free_ports(count: u16) -> u16 {
    for _ in 0..50 {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base > 60_000 {
            continue;
        }
        if (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free ports");
}
