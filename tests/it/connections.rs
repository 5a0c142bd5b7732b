//! Clients that misbehave at the connection level, driven by raw TCP: heads
//! and bodies that never finish, idle keep-alive connections, more
//! connections than the cap, and bodies whose chunked framing is broken.

use std::time::Duration;

use paywire::app::Settings;
use paywire::http::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestServer;

/// Longer than any timeout these tests set, far shorter than "for ever".
const PATIENCE: Duration = Duration::from_secs(10);

/// The example project, with `limits` edited from the defaults.
async fn server_with(edit: impl FnOnce(&mut ConnectionLimits)) -> TestServer {
    TestServer::examples_configured(false, |settings: &mut Settings| {
        edit(&mut settings.connections)
    })
    .await
}

async fn connect(server: &TestServer) -> TcpStream {
    let address = server.base.trim_start_matches("http://");
    TcpStream::connect(address).await.unwrap()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

/// What the server sends until it closes the connection; `None` if it
/// neither closes it nor stops sending within [`PATIENCE`].
async fn read_to_close(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// One response of a keep-alive connection (its head and its
/// `Content-Length` of body), or `None` if it does not come within `wait`.
async fn read_response(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    tokio::time::timeout(wait, async {
        let mut received = Vec::new();
        let mut byte = [0u8; 1];
        while !received.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).await.ok()?;
            if n == 0 {
                return None;
            }
            received.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&received).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.ok()?;
        received.extend_from_slice(&body);
        Some(String::from_utf8_lossy(&received).into_owned())
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test]
async fn half_a_head_is_closed_after_the_header_timeout() {
    let server = server_with(|limits| limits.header_timeout = Duration::from_millis(300)).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(b"GET /_paywire/health HTTP/1.1\r\nHost: localh")
        .await
        .unwrap();
    let received = read_to_close(&mut stream).await;
    assert_eq!(received.as_deref(), Some(""), "the connection was kept");

    // A connection that sends nothing at all owes a head just the same.
    let mut silent = connect(&server).await;
    assert_eq!(read_to_close(&mut silent).await.as_deref(), Some(""));
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_stops_halfway_is_answered_408_after_the_body_timeout() {
    let server = server_with(|limits| limits.body_timeout = Duration::from_millis(300)).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(
            b"POST /orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"amount\": 1",
        )
        .await
        .unwrap();
    let received = read_to_close(&mut stream)
        .await
        .expect("the connection was kept");
    assert!(received.starts_with("HTTP/1.1 408"), "{received}");
    assert!(
        received.contains("the body did not arrive within 0.3 seconds"),
        "{received}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = server_with(|limits| limits.idle_timeout = Duration::from_millis(300)).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(get("/_paywire/health").as_bytes())
        .await
        .unwrap();
    let answer = read_response(&mut stream, PATIENCE).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        read_to_close(&mut stream).await.as_deref(),
        Some(""),
        "the idle connection was kept"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_keep_alive_client_sends_several_requests_on_one_connection() {
    // Pauses shorter than the idle timeout keep the connection; the header
    // timeout counts from a request's first byte, not from the last answer.
    let server = server_with(|limits| {
        limits.header_timeout = Duration::from_millis(300);
        limits.idle_timeout = Duration::from_secs(5);
    })
    .await;
    let mut stream = connect(&server).await;
    for path in ["/_paywire/health", "/orders?limit=1", "/_paywire/health"] {
        stream.write_all(get(path).as_bytes()).await.unwrap();
        let answer = read_response(&mut stream, PATIENCE)
            .await
            .unwrap_or_else(|| panic!("no answer to {path}"));
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_for_a_free_one() {
    let server = server_with(|limits| limits.max_connections = 2).await;
    let mut first = connect(&server).await;
    let mut second = connect(&server).await;
    for stream in [&mut first, &mut second] {
        stream
            .write_all(get("/_paywire/health").as_bytes())
            .await
            .unwrap();
        assert!(read_response(stream, PATIENCE).await.is_some());
    }

    let mut third = connect(&server).await;
    third
        .write_all(get("/_paywire/health").as_bytes())
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut third, Duration::from_millis(500)).await,
        None,
        "a connection past the cap was served"
    );

    // The connections being served keep working meanwhile.
    first
        .write_all(get("/_paywire/health").as_bytes())
        .await
        .unwrap();
    let answer = read_response(&mut first, PATIENCE).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    drop(second);
    let answer = read_response(&mut third, PATIENCE)
        .await
        .expect("the waiting connection was not served once another closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

/// A chunked body whose first chunk size is not hexadecimal.
fn broken_chunked(path: &str, headers: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Transfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
    )
}

async fn answer_to(server: &TestServer, request: &str) -> String {
    let mut stream = connect(server).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    read_to_close(&mut stream)
        .await
        .expect("the connection was kept")
}

#[tokio::test]
async fn a_broken_chunked_body_is_a_400_naming_the_problem_wherever_bodies_are_read() {
    let server = TestServer::examples().await;
    let requests = [
        broken_chunked("/orders", "Content-Type: application/json\r\n"),
        broken_chunked(
            "/webhooks/stripe",
            "Content-Type: application/json\r\nStripe-Signature: t=1,v1=00\r\n",
        ),
        broken_chunked(
            "/_stripe/v1/customers",
            "Authorization: Bearer sk_test_paywire_connections\r\nContent-Type: application/x-www-form-urlencoded\r\n",
        ),
    ];
    for request in &requests {
        let answer = answer_to(&server, request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{request}:\n{answer}");
        assert!(answer.contains("the body could not be read"), "{answer}");
        assert!(answer.to_lowercase().contains("chunk"), "{answer}");
        assert!(!answer.contains("larger than"), "{answer}");
    }
    server.stop().await;
}
