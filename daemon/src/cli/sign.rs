//! `recalld sign --secret S [--id ID] < body`: the headers a bot sends, for
//! people testing with curl.

use std::io::Read as _;
use std::process::ExitCode;

use clap::Args;

use crate::auth::{
    GITHUB_DELIVERY, GITHUB_SIGNATURE, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};
use crate::auth::{decode_whsec, sign_github, sign_standard};

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The client secret (`whsec_...` for standard-webhooks). Prefer
    /// RECALLD_SECRET in the environment: arguments show up in `ps`.
    #[arg(long, env = "RECALLD_SECRET", hide_env_values = true)]
    pub secret: String,
    /// The delivery id; a fresh random one by default.
    #[arg(long)]
    pub id: Option<String>,
    /// Signature scheme.
    #[arg(long, default_value = "standard-webhooks", value_parser = ["standard-webhooks", "github"])]
    pub scheme: String,
    /// Print curl `-H` arguments instead of plain header lines.
    #[arg(long)]
    pub curl: bool,
}

/// A random delivery id, `msg_<hex>`.
pub fn fresh_id() -> String {
    format!("msg_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// The signature headers for `body`.
pub fn headers_for(
    secret: &str,
    scheme: &str,
    id: &str,
    now_secs: i64,
    body: &[u8],
) -> anyhow::Result<Vec<(&'static str, String)>> {
    Ok(if scheme == "github" {
        vec![
            (GITHUB_DELIVERY, id.to_owned()),
            (GITHUB_SIGNATURE, sign_github(secret.as_bytes(), body)),
        ]
    } else {
        let key = decode_whsec(secret).map_err(anyhow::Error::msg)?;
        vec![
            (WEBHOOK_ID, id.to_owned()),
            (WEBHOOK_TIMESTAMP, now_secs.to_string()),
            (WEBHOOK_SIGNATURE, sign_standard(&key, id, now_secs, body)),
        ]
    })
}

pub fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body)?;
    let id = args.id.unwrap_or_else(fresh_id);
    let now = crate::clock::now_ms() / 1000;
    for (name, value) in headers_for(&args.secret, &args.scheme, &id, now, &body)? {
        if args.curl {
            print!("-H '{name}: {value}' ");
        } else {
            println!("{name}: {value}");
        }
    }
    if args.curl {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
