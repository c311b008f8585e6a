//! Helpers shared by the integration tests that talk real TCP.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `faultline serve`, killed on drop.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Broker 1's port; broker i listens on `port + i - 1`.
    pub port: u16,
}

impl Server {
    /// Why the server is gone, if it is: its exit status and what it wrote to stderr.
    pub fn obituary(&mut self) -> String {
        use std::io::Read;
        match self.child.try_wait() {
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(pipe) = self.child.stderr.as_mut() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                format!("serve exited with {status}; stderr:\n{stderr}")
            }
            Ok(None) => "serve is still running".to_string(),
            Err(e) => format!("serve's status is unknown: {e}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `faultline serve` with `brokers` brokers on fresh ports and `extra` arguments,
/// and waits until broker 1 listens. Ports found free can be taken by another process
/// before serve binds them; then serve exits, and this tries other ports, rather than
/// mistaking the other listener for its own.
pub fn serve(brokers: u16, extra: &[&str]) -> Server {
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_ports(brokers);
        let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--brokers", &brokers.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("faultline serve starts");
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = server.child.try_wait() {
                last = server.obituary();
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Listening — ours, unless serve is about to exit for a taken port.
                std::thread::sleep(Duration::from_millis(100));
                if let Ok(None) = server.child.try_wait() {
                    return server;
                }
                last = server.obituary();
                break;
            }
            assert!(Instant::now() < deadline, "serve did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("serve could not start on free ports: {last}");
}

/// Finds `count` consecutive free loopback ports below Linux's ephemeral range
/// (32768-60999): a broker restarted on its port must not find it taken by some client
/// socket's local end, which an ephemeral port can be.
pub fn free_ports(count: u16) -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let spread = (std::process::id() % 400) as u16 * 20;
    for _ in 0..200 {
        let offset = NEXT.fetch_add(count + 1, Ordering::SeqCst) % 8_000;
        let base = 22_000 + (spread + offset) % 8_000;
        if (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free ports");
}
