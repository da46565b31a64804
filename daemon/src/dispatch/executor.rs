//! Sends the requests plugins describe. Owns the HTTP client, timeouts and
//! the response size cap. Errors never include the URL (it may carry a
//! token in its query string).

use std::time::Duration;

use plugin_api::{Header, HttpResponse};

use crate::host::Admitted;

/// Largest vendor response body kept; the rest is dropped.
pub const RESPONSE_CAP: usize = 256 * 1024;

#[derive(Clone)]
pub struct Executor {
    client: reqwest::Client,
}

impl Executor {
    pub fn new(max_idle_per_host: usize) -> Result<Executor, String> {
        crate::api::install_crypto();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(max_idle_per_host)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            // The dispatcher retries itself (backoff, the vendor's
            // Retry-After, the task's attempts). reqwest's own retry layer
            // would also copy every request's URI, headers and extensions in
            // case it replays it; with no retries allowed it copies nothing.
            .retry(
                reqwest::retry::never()
                    .no_budget()
                    .max_retries_per_request(0),
            )
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Executor { client })
    }

    /// Sends a request the account's guard admitted, to the URL it checked;
    /// transport failures and timeouts are `Err` (retryable).
    pub async fn send(
        &self,
        admitted: Admitted,
        timeout: Duration,
    ) -> Result<HttpResponse, String> {
        let (request, url) = admitted.into_parts();
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("invalid HTTP method {:?}", request.method))?;
        let mut builder = self.client.request(method, url).timeout(timeout);
        for header in &request.headers {
            builder = builder.header(&header.name, &header.value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| value.to_str().ok().map(|v| Header::new(name.as_str(), v)))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            let room = RESPONSE_CAP.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}
