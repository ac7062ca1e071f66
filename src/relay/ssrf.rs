//! Server-side request forgery protection for subscriber targets.
//!
//! Anyone who can subscribe chooses where storebridge sends POSTs, so a target must not
//! reach the machine itself or its network. Targets are checked at subscribe time and again
//! at delivery time after DNS resolution, because a name can point elsewhere later. The
//! delivery client resolves names through [`GuardedResolver`], which fails for a name with
//! any internal address, and IP literals are checked by [`check_literal`] before connecting.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::dns::Name;

/// An address class that targets may not reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockedClass {
    Loopback,
    Private,
    LinkLocal,
    UniqueLocal,
    Multicast,
    Unspecified,
    Broadcast,
}

impl BlockedClass {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockedClass::Loopback => "loopback",
            BlockedClass::Private => "private",
            BlockedClass::LinkLocal => "link-local",
            BlockedClass::UniqueLocal => "unique-local",
            BlockedClass::Multicast => "multicast",
            BlockedClass::Unspecified => "unspecified",
            BlockedClass::Broadcast => "broadcast",
        }
    }
}

/// Why a target was rejected.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("target_url is not a valid absolute URL")]
    InvalidUrl,
    #[error("target_url must use https or http")]
    Scheme,
    #[error("target_url host {host} resolves to {address}, which is in the {} address range", class.as_str())]
    Blocked {
        host: String,
        address: IpAddr,
        class: BlockedClass,
    },
    #[error("target_url host {host} could not be resolved")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("target_url host {host} resolves to no address")]
    NoAddress { host: String },
}

/// Returns the class of an address that targets may not reach, or `None` for a public one.
/// IPv4-mapped IPv6 addresses are judged by their IPv4 address.
pub fn classify(address: IpAddr) -> Option<BlockedClass> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(address: Ipv4Addr) -> Option<BlockedClass> {
    let [first, second, ..] = address.octets();
    if address.is_loopback() {
        Some(BlockedClass::Loopback)
    } else if address.is_unspecified() || first == 0 {
        Some(BlockedClass::Unspecified)
    } else if address.is_private() || (first == 100 && (64..128).contains(&second)) {
        // 100.64.0.0/10 is carrier-grade NAT space, internal to some provider networks.
        Some(BlockedClass::Private)
    } else if address.is_link_local() {
        Some(BlockedClass::LinkLocal)
    } else if address.is_multicast() {
        Some(BlockedClass::Multicast)
    } else if address.is_broadcast() {
        Some(BlockedClass::Broadcast)
    } else {
        None
    }
}

fn classify_v6(address: Ipv6Addr) -> Option<BlockedClass> {
    let first = address.segments()[0];
    if address.is_loopback() {
        Some(BlockedClass::Loopback)
    } else if address.is_unspecified() {
        Some(BlockedClass::Unspecified)
    } else if first & 0xffc0 == 0xfe80 {
        Some(BlockedClass::LinkLocal)
    } else if first & 0xfe00 == 0xfc00 {
        Some(BlockedClass::UniqueLocal)
    } else if address.is_multicast() {
        Some(BlockedClass::Multicast)
    } else {
        None
    }
}

/// Parses a target URL and checks its scheme and, for an IP literal, its address.
pub fn check_literal(url: &str, allow_private: bool) -> Result<Uri, TargetError> {
    let uri: Uri = url.trim().parse().map_err(|_| TargetError::InvalidUrl)?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) {
        return Err(TargetError::Scheme);
    }
    let host = uri.host().ok_or(TargetError::InvalidUrl)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = bare.parse::<IpAddr>() {
        check_address(bare, address, allow_private)?;
    }
    Ok(uri)
}

fn check_address(host: &str, address: IpAddr, allow_private: bool) -> Result<(), TargetError> {
    match classify(address) {
        Some(class) if !allow_private => Err(TargetError::Blocked {
            host: host.to_owned(),
            address,
            class,
        }),
        _ => Ok(()),
    }
}

/// Checks a target fully: scheme, literal address, and every address its name resolves to.
pub async fn check_target(url: &str, allow_private: bool) -> Result<Uri, TargetError> {
    let uri = check_literal(url, allow_private)?;
    let host = uri.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_err() {
        resolve_allowed(bare, allow_private).await?;
    }
    Ok(uri)
}

/// Resolves `host` and returns the addresses a target may use. Fails when any address is
/// internal, so that a name mixing public and internal addresses is rejected outright.
async fn resolve_allowed(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, TargetError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|source| TargetError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    if addresses.is_empty() {
        return Err(TargetError::NoAddress {
            host: host.to_owned(),
        });
    }
    for address in &addresses {
        check_address(host, address.ip(), allow_private)?;
    }
    Ok(addresses)
}

/// A DNS resolver for the delivery client that rejects internal addresses after resolution.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

type ResolveFuture =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, TargetError>> + Send>>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = TargetError;
    type Future = ResolveFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addresses = resolve_allowed(name.as_str(), allow_private).await?;
            Ok(addresses.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_internal_addresses() {
        let cases = [
            ("127.0.0.1", BlockedClass::Loopback),
            ("127.8.9.10", BlockedClass::Loopback),
            ("::1", BlockedClass::Loopback),
            ("10.1.2.3", BlockedClass::Private),
            ("172.16.0.1", BlockedClass::Private),
            ("192.168.1.1", BlockedClass::Private),
            ("100.64.0.1", BlockedClass::Private),
            ("169.254.169.254", BlockedClass::LinkLocal),
            ("fe80::1", BlockedClass::LinkLocal),
            ("fd00::1", BlockedClass::UniqueLocal),
            ("fc00::1", BlockedClass::UniqueLocal),
            ("224.0.0.1", BlockedClass::Multicast),
            ("ff02::1", BlockedClass::Multicast),
            ("0.0.0.0", BlockedClass::Unspecified),
            ("::", BlockedClass::Unspecified),
            ("255.255.255.255", BlockedClass::Broadcast),
            ("::ffff:127.0.0.1", BlockedClass::Loopback),
            ("::ffff:169.254.169.254", BlockedClass::LinkLocal),
        ];
        for (text, class) in cases {
            let address: IpAddr = text.parse().expect("address");
            assert_eq!(classify(address), Some(class), "{text}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for text in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            let address: IpAddr = text.parse().expect("address");
            assert_eq!(classify(address), None, "{text}");
        }
    }

    #[test]
    fn literal_targets_checked() {
        let blocked = check_literal("https://169.254.169.254/latest/meta-data", false);
        assert!(matches!(
            blocked,
            Err(TargetError::Blocked {
                class: BlockedClass::LinkLocal,
                ..
            })
        ));
        assert!(matches!(
            check_literal("https://[::1]:8443/x", false),
            Err(TargetError::Blocked {
                class: BlockedClass::Loopback,
                ..
            })
        ));
        assert!(check_literal("https://[::1]:8443/x", true).is_ok());
        assert!(matches!(
            check_literal("ftp://93.184.216.34/", false),
            Err(TargetError::Scheme)
        ));
        assert!(matches!(
            check_literal("not a url", false),
            Err(TargetError::InvalidUrl)
        ));
    }

    #[tokio::test]
    async fn localhost_name_rejected_after_resolution() {
        let result = check_target("https://localhost:9/hook", false).await;
        assert!(
            matches!(
                result,
                Err(TargetError::Blocked {
                    class: BlockedClass::Loopback,
                    ..
                })
            ),
            "{result:?}"
        );
    }
}
