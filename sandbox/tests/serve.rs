//! The sandbox on a real socket: `serve` binds a free port, answers HTTP/1.1
//! from a client that knows nothing of warp, and stops when told to.

use std::net::SocketAddr;
use std::time::Duration;

use sandbox::{Config, Sandbox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request on its own connection; returns the raw response.
async fn exchange(addr: SocketAddr, request: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn serves_until_shutdown() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::new(Config::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        // Either a send or a dropped sender means stop.
        let _ = stopped.await;
    };
    let (addr, task) = sandbox::serve(sandbox.clone(), "127.0.0.1:0".parse()?, shutdown).await?;
    assert_ne!(addr.port(), 0);

    let token = exchange(
        addr,
        "GET /gettoken?appkey=ding-sandbox&appsecret=ding-secret HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n",
    )
    .await?;
    assert!(token.starts_with("HTTP/1.1 200"), "{token}");
    assert!(token.contains("\"access_token\""), "{token}");

    // The Feishu SDK sends its token request without a Content-Type.
    let body = r#"{"app_id":"cli_sandbox","app_secret":"sandbox-secret"}"#;
    let feishu = exchange(
        addr,
        &format!(
            "POST /open-apis/auth/v3/tenant_access_token/internal HTTP/1.1\r\nHost: sandbox\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await?;
    assert!(feishu.starts_with("HTTP/1.1 200"), "{feishu}");
    assert!(
        feishu.to_ascii_lowercase().contains("x-tt-logid:"),
        "{feishu}"
    );
    assert!(feishu.contains("\"tenant_access_token\":\"t-"), "{feishu}");

    let stats = sandbox.stats();
    assert_eq!(stats.dingtalk.requests["gettoken"], 1);
    assert_eq!(stats.feishu.requests["tenant_access_token"], 1);

    stop.send(()).map_err(|()| "server already gone")?;
    tokio::time::timeout(Duration::from_secs(10), task).await??;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
    Ok(())
}
