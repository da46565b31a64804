//! Plugin output is untrusted: every request a plugin builds must go to a host
//! its manifest declares, or to the account's configured `base_url`.

use std::fmt;

use plugin_api::{Account, HttpRequest, Manifest};

/// `scheme://host:port` of a URL, lowercased, with the default port filled in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UrlParts {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl UrlParts {
    /// Parses an absolute `http` or `https` URL. Userinfo is refused: a
    /// plugin has no reason to smuggle credentials into the authority.
    pub fn parse(url: &str) -> Result<UrlParts, String> {
        Ok(UrlParts::parse_url(url)?.1)
    }

    /// [`UrlParts::parse`], also giving back the parsed URL.
    fn parse_url(url: &str) -> Result<(reqwest::Url, UrlParts), String> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not an absolute URL: {e}"))?;
        let scheme = parsed.scheme().to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("{url:?}: scheme must be http or https"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!("{url:?}: user info in URLs is not allowed"));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("{url:?} has no host"))?
            .to_ascii_lowercase();
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| format!("{url:?} has no port"))?;
        Ok((parsed, UrlParts { scheme, host, port }))
    }
}

impl fmt::Display for UrlParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// A request the guard let through, with the URL it parsed and checked. The
/// executor sends this URL as it is: what was checked is what is sent, and
/// the URL is parsed once per call. Only [`HostGuard::admit`] makes one.
#[derive(Debug)]
pub struct Admitted {
    request: HttpRequest,
    url: reqwest::Url,
}

impl Admitted {
    pub fn request(&self) -> &HttpRequest {
        &self.request
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// The request, and the URL to send it to.
    pub fn into_parts(self) -> (HttpRequest, reqwest::Url) {
        (self.request, self.url)
    }
}

/// The hosts one account's plugin may reach.
#[derive(Debug, Clone)]
pub struct HostGuard {
    allowed: Vec<UrlParts>,
}

impl HostGuard {
    pub fn new(manifest: &Manifest, account: &Account) -> Result<HostGuard, String> {
        let mut allowed = Vec::new();
        for region in &manifest.regions {
            allowed.push(UrlParts::parse(&region.base_url)?);
        }
        if let Some(base) = &account.base_url {
            allowed.push(UrlParts::parse(base)?);
        }
        Ok(HostGuard { allowed })
    }

    /// Lets `request` through to the executor, or refuses it (see
    /// [`HostGuard::check`]).
    pub fn admit(&self, request: HttpRequest) -> Result<Admitted, String> {
        let url = self.check(&request)?;
        Ok(Admitted { request, url })
    }

    /// Refuses a request whose URL is malformed or whose host is not
    /// allowed; gives back the parsed URL otherwise.
    pub fn check(&self, request: &HttpRequest) -> Result<reqwest::Url, String> {
        let (url, target) = UrlParts::parse_url(&request.url)?;
        if self.allowed.contains(&target) {
            return Ok(url);
        }
        let allowed: Vec<String> = self.allowed.iter().map(ToString::to_string).collect();
        Err(format!(
            "plugin built a request to {target}, which is neither a declared region nor the account's base_url (allowed: {})",
            allowed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{CredentialSchema, Region};

    fn manifest() -> Manifest {
        Manifest {
            name: "x".into(),
            version: "1".into(),
            vendor: "X".into(),
            description: String::new(),
            operations: vec![plugin_api::OperationKind::Recall],
            recall_window_secs: None,
            rate_limits: vec![],
            regions: vec![Region {
                name: "main".into(),
                base_url: "https://api.vendor.example".into(),
            }],
            credentials: CredentialSchema::new(),
            uses_token: false,
        }
    }

    fn request(url: &str) -> HttpRequest {
        HttpRequest {
            method: "DELETE".into(),
            url: url.into(),
            headers: vec![],
            body: None,
        }
    }

    #[test]
    fn declared_region_and_configured_base_url_are_allowed_nothing_else() {
        let account = Account {
            name: "a".into(),
            base_url: Some("http://127.0.0.1:8900".into()),
            region: None,
            credentials: Default::default(),
        };
        let guard = HostGuard::new(&manifest(), &account).unwrap();
        guard
            .check(&request("https://api.vendor.example/v1/x"))
            .unwrap();
        guard
            .check(&request("https://API.vendor.example:443/v1/x"))
            .unwrap();
        // What is sent is the URL the guard parsed and checked.
        let admitted = guard
            .admit(request("http://127.0.0.1:8900/v3/push/1?x=1"))
            .unwrap();
        assert_eq!(
            admitted.url().as_str(),
            "http://127.0.0.1:8900/v3/push/1?x=1"
        );
        assert_eq!(admitted.request().url, admitted.url().as_str());
        for bad in [
            "https://evil.example/v1/x",
            "http://api.vendor.example/v1/x",
            "http://127.0.0.1:8901/v3/push/1",
            "https://user:pw@api.vendor.example/",
            "file:///etc/passwd",
            "/relative",
        ] {
            assert!(guard.check(&request(bad)).is_err(), "{bad} must be refused");
            assert!(guard.admit(request(bad)).is_err(), "{bad} must be refused");
        }
    }
}
