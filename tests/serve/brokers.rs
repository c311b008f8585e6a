//! `faultline serve` on real TCP: a client nobody here wrote (kcat, librdkafka) produces and
//! consumes; malformed and hostile frames get a closed connection, and the process lives.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::Server;

fn serve(brokers: u16) -> Server {
    let server = crate::common::serve(brokers, &["--topic", "events:3"]);
    // Leaders are elected and announced within a few heartbeats.
    std::thread::sleep(Duration::from_millis(1500));
    server
}

fn kcat() -> Option<&'static str> {
    let found = Command::new("kcat").arg("-V").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but kcat is not installed"
        );
        eprintln!("skipped: kcat is not installed (apt-get install kcat)");
    }
    found.then_some("kcat")
}

fn kcat_run(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kcat {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn kcat_produces_and_consumes_through_three_replicated_brokers() {
    if kcat().is_none() {
        return;
    }
    let server = serve(3);
    let bootstrap = format!("127.0.0.1:{}", server.port);
    for partition in ["0", "1", "2"] {
        let messages: String = (0..20).map(|i| format!("p{partition}-m{i}\n")).collect();
        kcat_run(
            &[
                "-b", &bootstrap, "-P", "-t", "events", "-p", partition, "-X", "acks=all",
            ],
            &messages,
        );
    }
    for partition in ["0", "1", "2"] {
        let out = kcat_run(
            &[
                "-b",
                &bootstrap,
                "-C",
                "-t",
                "events",
                "-p",
                partition,
                "-o",
                "beginning",
                "-e",
                "-q",
            ],
            "",
        );
        let expected: Vec<String> = (0..20).map(|i| format!("p{partition}-m{i}")).collect();
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            expected,
            "partition {partition}"
        );
    }
    let metadata = kcat_run(&["-b", &bootstrap, "-L"], "");
    assert!(metadata.contains("3 brokers"), "{metadata}");
    assert!(metadata.contains("isrs: "), "{metadata}");
}

fn api_versions_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // ApiVersions v0: key 18, version 0, correlation 42, client id "t".
    let body: Vec<u8> = [
        &18i16.to_be_bytes()[..],
        &0i16.to_be_bytes(),
        &42i32.to_be_bytes(),
        &1i16.to_be_bytes(),
        b"t",
    ]
    .concat();
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    if stream.write_all(&frame).is_err() {
        return false;
    }
    let mut length = [0u8; 4];
    if stream.read_exact(&mut length).is_err() {
        return false;
    }
    let mut reply = vec![0u8; i32::from_be_bytes(length) as usize];
    stream.read_exact(&mut reply).is_ok() && reply[..4] == 42i32.to_be_bytes()
}

/// The attack: a 5-byte body whose array claims ~2^31 elements, plus garbage,
/// truncated frames and absurd lengths. Every connection is closed or answered; the
/// process keeps serving.
#[test]
fn hostile_frames_never_take_the_server_down() {
    let mut server = serve(1);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for api in [0i16, 1, 2, 3, 8, 9, 10, 11, 12, 14, 19, 22, 23] {
        for version in 0..13i16 {
            let mut body = [
                &api.to_be_bytes()[..],
                &version.to_be_bytes(),
                &1i32.to_be_bytes(),
                &(-1i16).to_be_bytes(),
            ]
            .concat();
            body.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0x01]);
            frames.push(body);
        }
    }
    frames.push(vec![0xff; 3]);
    frames.push(vec![0, 18, 0, 99, 0, 0, 0, 1]);
    let mut state = 0x1234_5678u64;
    for _ in 0..200 {
        let len = (state % 60) as usize;
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        frames.push(garbage);
    }
    for body in &frames {
        let mut stream = match TcpStream::connect(("127.0.0.1", server.port)) {
            Ok(stream) => stream,
            Err(e) => panic!(
                "server no longer accepts ({e}) after frame {body:02x?}: {}",
                server.obituary()
            ),
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        let _ = stream.write_all(&frame);
        let mut buf = [0u8; 64];
        let _ = stream.read(&mut buf);
    }
    // Absurd frame lengths.
    for length in [i32::MAX, -1, 1 << 30] {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let _ = stream.write_all(&length.to_be_bytes());
    }
    assert!(
        api_versions_answers(server.port),
        "the server stopped answering after hostile frames"
    );
    let mut child_state = server;
    assert!(
        child_state.child.try_wait().unwrap().is_none(),
        "the server process died"
    );
}

/// Spawns a kcat group member that exits at the end of its partitions; returns its output.
fn group_member(bootstrap: &str, group: &str, tag: &str) -> std::thread::JoinHandle<String> {
    let (bootstrap, group, format) = (
        bootstrap.to_string(),
        group.to_string(),
        format!("{tag} %p %s\\n"),
    );
    std::thread::spawn(move || {
        let output = Command::new("timeout")
            .args([
                "20", "kcat", "-b", &bootstrap, "-G", &group, "events", "-q", "-e",
            ])
            .args([
                "-X",
                "auto.offset.reset=earliest",
                "-X",
                "session.timeout.ms=6000",
                "-f",
                &format,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    })
}

/// The classic group protocol with a client nobody here wrote: two kcat members split the
/// partitions (JoinGroup/SyncGroup, range assignment by the leader member) and a member
/// that comes back resumes from the group's committed offsets (OffsetCommit/OffsetFetch).
#[test]
fn a_kcat_consumer_group_splits_partitions_and_resumes_from_committed_offsets() {
    if kcat().is_none() {
        return;
    }
    let server = serve(3);
    let bootstrap = format!("127.0.0.1:{}", server.port);
    for partition in ["0", "1", "2"] {
        let messages: String = (0..5)
            .map(|i| format!("first-p{partition}-{i}\n"))
            .collect();
        kcat_run(
            &[
                "-b", &bootstrap, "-P", "-t", "events", "-p", partition, "-X", "acks=all",
            ],
            &messages,
        );
    }
    let a = group_member(&bootstrap, "certify-group", "A");
    let b = group_member(&bootstrap, "certify-group", "B");
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let mut seen: Vec<String> = a
        .lines()
        .chain(b.lines())
        .map(|l| l.split_whitespace().nth(2).unwrap_or("").to_string())
        .collect();
    seen.sort();
    let mut expected: Vec<String> = ["0", "1", "2"]
        .iter()
        .flat_map(|p| (0..5).map(move |i| format!("first-p{p}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(
        seen, expected,
        "every record exactly once across the group\nA:\n{a}\nB:\n{b}"
    );
    let partitions_of = |out: &str| -> std::collections::BTreeSet<String> {
        out.lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect()
    };
    assert!(
        partitions_of(&a).is_disjoint(&partitions_of(&b)),
        "a partition went to both members\nA:\n{a}\nB:\n{b}"
    );
    for partition in ["0", "1", "2"] {
        let messages: String = (0..3)
            .map(|i| format!("second-p{partition}-{i}\n"))
            .collect();
        kcat_run(
            &[
                "-b", &bootstrap, "-P", "-t", "events", "-p", partition, "-X", "acks=all",
            ],
            &messages,
        );
    }
    let again = group_member(&bootstrap, "certify-group", "C")
        .join()
        .unwrap();
    let mut resumed: Vec<&str> = again
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    resumed.sort();
    let mut expected: Vec<String> = ["0", "1", "2"]
        .iter()
        .flat_map(|p| (0..3).map(move |i| format!("second-p{p}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(
        resumed, expected,
        "the restarted member resumes from committed offsets:\n{again}"
    );
}
