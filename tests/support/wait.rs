//! Waiting without sleeping blindly: ask a question again and again until it
//! has an answer or a deadline passes (STYLE.md habit 13).

use std::future::Future;
use std::time::{Duration, Instant};

/// How long to let go of the thread between two probes.
const INTERVAL: Duration = Duration::from_millis(20);

/// Calls `probe` until it returns `Ok`, or panics once `timeout` has passed.
///
/// `Err` means "not yet" and says what was seen, so that a timeout names the
/// last observed state rather than just "timed out".
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let seen = match probe().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last seen: {seen}"
        );
        tokio::time::sleep(INTERVAL).await;
    }
}
