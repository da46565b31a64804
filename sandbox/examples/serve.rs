//! Runs the vendor sandbox alone, e.g. for `wrk` or for pointing a client at it:
//!
//! ```text
//! cargo run --release -p recalld-sandbox --example serve -- 127.0.0.1:8085 [--no-rate-limits] [--latency-ms N]
//! ```
//!
//! Serves until Ctrl-C. Controls are under `/_sandbox/` (see sandbox/README.md).

use std::net::SocketAddr;

use sandbox::{Config, RateLimits, Sandbox};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = "127.0.0.1:8085".parse()?;
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-rate-limits" => config.rate_limits = RateLimits::disabled(),
            "--latency-ms" => {
                let value = args.next().ok_or("--latency-ms needs a number")?;
                config.latency_ms = value.parse()?;
            }
            other => {
                addr = other
                    .parse()
                    .map_err(|e| format!("{other:?} is not an address: {e}"))?
            }
        }
    }
    let shutdown = async {
        // If the signal cannot be installed, serve until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let (bound, task) = sandbox::serve(Sandbox::new(config), addr, shutdown).await?;
    println!("sandbox listening on http://{bound}");
    task.await?;
    Ok(())
}
