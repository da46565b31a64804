//! `recalld sandbox --listen ADDR`: the vendor simulator alone.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on (loopback only is sensible).
    #[arg(long, default_value = "127.0.0.1:8900")]
    pub listen: SocketAddr,
    /// Injected latency per vendor request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Switch the vendors' rate limits off (benchmarks).
    #[arg(long)]
    pub no_rate_limits: bool,
}

pub fn run(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut config = sandbox::Config {
            latency_ms: args.latency_ms,
            ..Default::default()
        };
        if args.no_rate_limits {
            config.rate_limits.enabled = false;
        }
        let sandbox = sandbox::Sandbox::new(config);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr, task) = sandbox::serve(sandbox, args.listen, async {
            let _ = stop_rx.await;
        })
        .await?;
        eprintln!("vendor sandbox listening on http://{addr} (controls under /_sandbox/)");
        let signal = super::serve::shutdown_signal().await;
        eprintln!("{signal}: stopping");
        let _ = stop_tx.send(());
        let _ = task.await;
        Ok(ExitCode::SUCCESS)
    })
}
