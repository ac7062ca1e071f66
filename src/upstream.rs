//! The connection to ShipStation: a pooled HTTPS client and the upstream base URL.

use http::uri::{Authority, Scheme};
use http::Uri;

/// The parsed `[upstream] v1` base URL.
#[derive(Clone, Debug)]
pub struct UpstreamTarget {
    pub scheme: Scheme,
    pub authority: Authority,
    /// Path prefix without a trailing slash, empty for a bare host.
    pub base_path: String,
}

impl UpstreamTarget {
    /// Parses a base URL such as `https://ssapi.shipstation.com`. Plain `http` is accepted
    /// only for loopback hosts, because API credentials travel in every request.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|err| {
            format!("{url:?} is not a URL ({err}); write it as https://host[:port]")
        })?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("{url:?} has no scheme; write it as https://host[:port]"))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("{url:?} has no host; write it as https://host[:port]"))?;
        if uri.query().is_some() {
            return Err(format!(
                "{url:?} has a query string; give only the base URL"
            ));
        }
        if scheme == Scheme::HTTP {
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']');
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .map(|ip| ip.is_loopback())
                    .unwrap_or(false);
            if !loopback {
                return Err(format!(
                    "{url:?} uses plain http to a non-loopback host; API credentials would travel \
                     unencrypted, so use https"
                ));
            }
        } else if scheme != Scheme::HTTPS {
            return Err(format!("{url:?} has scheme {scheme}; use https"));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            scheme,
            authority,
            base_path,
        })
    }
}
