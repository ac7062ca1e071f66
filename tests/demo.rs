//! `storebridge demo`, the README's first command, run as a user would: it must show the
//! client seeing the legacy ID while the sandbox sees the connect ID, keep serving, and
//! stop cleanly on Ctrl-C (SIGINT).

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn demo_shows_translation_and_stops_on_sigint() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_storebridge"))
        .args(["demo", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start demo");
    let stdout = child.stdout.take().expect("stdout");

    // Read until the demo prints its curl commands, which come after the walk-through.
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line).expect("read stdout");
        if read == 0 {
            break;
        }
        let done = line.contains("/stores/refreshstore");
        lines.push(line);
        if done {
            break;
        }
    }
    let text = lines.concat();

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("send SIGINT");
    assert!(interrupted.success());
    let status = child.wait().expect("wait for demo");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }

    assert!(
        text.contains("client  -> GET /orders?storeId=12345"),
        "{text}\n{stderr}"
    );
    assert!(
        text.contains("sandbox <- GET /orders?storeId=7654321"),
        "{text}\n{stderr}"
    );
    assert!(
        text.contains("sandbox <- GET /stores/7654321"),
        "{text}\n{stderr}"
    );
    assert!(
        text.contains("\"storeId\":7654321"),
        "the sandbox saw the connect ID in the body: {text}"
    );
    let client_replies: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("client  <- 200"))
        .collect();
    assert_eq!(client_replies.len(), 3, "{text}\n{stderr}");
    for reply in client_replies {
        assert!(
            reply.contains("\"storeId\":12345"),
            "client sees the legacy ID: {reply}"
        );
        assert!(
            !reply.contains("7654321"),
            "client never sees the connect ID: {reply}"
        );
    }
    assert!(text.contains("curl --cacert"), "{text}");
    assert!(status.success(), "demo exit status {status}: {stderr}");
}
