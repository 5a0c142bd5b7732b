//! Clients that misbehave at the connection level, driven by raw TCP:
//! bodies whose chunked framing is broken.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestServer;

/// Far shorter than "for ever".
const PATIENCE: Duration = Duration::from_secs(10);

async fn connect(server: &TestServer) -> TcpStream {
    let address = server.base.trim_start_matches("http://");
    TcpStream::connect(address).await.unwrap()
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
