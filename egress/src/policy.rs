//! The SSRF guard: which URLs, host names and addresses an outbound request may reach.
//!
//! [`EgressPolicy::check_url`] is the synchronous check done before every hop (scheme, denied
//! host names, IP-literal hosts); [`EgressPolicy::check_address`] is applied to every address a
//! host name resolves to, inside the client's resolver, before any connection is made.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

use crate::error::HttpError;

/// Host names refused by default whatever they resolve to: cloud metadata endpoints.
pub const DEFAULT_DENIED_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.internal",
];

/// Default number of redirects followed before giving up.
pub const DEFAULT_MAX_REDIRECTS: usize = 5;

/// Default response body cap: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// An exception to the private-address ban: a network, optionally restricted to one port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AllowedTarget {
    /// The addresses allowed (IPv4-mapped IPv6 addresses are matched in their IPv4 form).
    pub net: IpNet,
    /// The only port allowed, or any port when `None`.
    pub port: Option<u16>,
}

impl AllowedTarget {
    /// Allows exactly one address on one port.
    pub fn socket(ip: IpAddr, port: u16) -> Self {
        Self {
            net: IpNet::from(ip),
            port: Some(port),
        }
    }

    /// Allows a whole network on any port.
    pub fn net(net: IpNet) -> Self {
        Self { net, port: None }
    }

    fn matches(&self, ip: IpAddr, port: Option<u16>) -> bool {
        let port_ok = match self.port {
            None => true,
            Some(allowed) => port == Some(allowed),
        };
        port_ok && self.net.contains(&ip)
    }
}

/// What outbound requests may reach. One per tenant setting; cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Allows loopback, private, link-local and every other non-public address.
    pub allow_private: bool,
    /// Redirects followed before [`HttpError::TooManyRedirects`].
    pub max_redirects: usize,
    /// Non-public addresses allowed anyway when `allow_private` is false.
    pub allowed: Vec<AllowedTarget>,
    /// Host names (and their subdomains) always refused, even with `allow_private`.
    pub denied_hosts: Vec<String>,
    /// Response bodies are cut at this many bytes and marked `truncated`.
    pub max_response_bytes: usize,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allow_private: false,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            allowed: Vec::new(),
            denied_hosts: DEFAULT_DENIED_HOSTS.iter().map(|h| h.to_string()).collect(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Why a URL or address was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    /// The scheme is neither http nor https.
    Scheme(String),
    /// The URL has no host.
    NoHost,
    /// The host name is on the policy's deny list.
    DeniedHost,
    /// Loopback (127.0.0.0/8, ::1).
    Loopback,
    /// Private networks (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10).
    Private,
    /// Link-local, including cloud metadata (169.254/16, fe80::/10).
    LinkLocal,
    /// The unspecified or "this network" address (0.0.0.0/8, ::).
    Unspecified,
    /// Carrier-grade NAT shared address space (100.64/10).
    SharedAddressSpace,
    /// Limited broadcast (255.255.255.255).
    Broadcast,
    /// Multicast (224/4, ff00::/8).
    Multicast,
    /// Documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20).
    Documentation,
    /// Benchmarking ranges (198.18/15, 2001:2::/48).
    Benchmarking,
    /// Other reserved or special-purpose ranges (240/4, 192.0.0/24, 100::/64, 2001::/23, ...).
    Reserved,
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme(s) => write!(f, "scheme {s:?} is not allowed (only http and https)"),
            Self::NoHost => f.write_str("the URL has no host"),
            Self::DeniedHost => f.write_str("the host name is denied by the egress policy"),
            Self::Loopback => f.write_str("loopback addresses are not allowed"),
            Self::Private => f.write_str("private network addresses are not allowed"),
            Self::LinkLocal => {
                f.write_str("link-local and cloud metadata addresses are not allowed")
            }
            Self::Unspecified => f.write_str("the unspecified address is not allowed"),
            Self::SharedAddressSpace => f.write_str("carrier-grade NAT addresses are not allowed"),
            Self::Broadcast => f.write_str("broadcast addresses are not allowed"),
            Self::Multicast => f.write_str("multicast addresses are not allowed"),
            Self::Documentation => f.write_str("documentation addresses are not allowed"),
            Self::Benchmarking => f.write_str("benchmarking addresses are not allowed"),
            Self::Reserved => f.write_str("reserved addresses are not allowed"),
        }
    }
}

/// Classifies an address: `None` for a public (globally routable) address, else why it is not.
///
/// IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) IPv6 addresses
/// are classified by the IPv4 address they embed.
pub fn classify(ip: IpAddr) -> Option<RefusalReason> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<RefusalReason> {
    use RefusalReason::*;
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => Unspecified,
        (10, _, _) => Private,
        (100, 64..=127, _) => SharedAddressSpace,
        (127, _, _) => Loopback,
        (169, 254, _) => LinkLocal,
        (172, 16..=31, _) => Private,
        (192, 0, 0) | (192, 88, 99) => Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Documentation,
        (192, 168, _) => Private,
        (198, 18..=19, _) => Benchmarking,
        (224..=239, _, _) => Multicast,
        _ if ip.is_broadcast() => Broadcast,
        (240..=255, _, _) => Reserved,
        _ => return None,
    };
    Some(reason)
}

fn classify_v6(ip: Ipv6Addr) -> Option<RefusalReason> {
    use RefusalReason::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    let s = ip.segments();
    let embedded_v4 =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    let reason = match s {
        // IPv4-mapped ::ffff:0:0/96 and NAT64 64:ff9b::/96 reach the embedded IPv4 address.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            return classify_v4(embedded_v4(hi, lo));
        }
        // 6to4 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => return classify_v4(embedded_v4(hi, lo)),
        // IPv4-compatible ::/96 (deprecated), local-use NAT64 64:ff9b:1::/48, discard 100::/64.
        [0, 0, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] | [0x100, 0, 0, 0, ..] => Reserved,
        [0x2001, 0xdb8, ..] => Documentation,
        [0x2001, 2, 0, ..] => Benchmarking,
        // 2001::/23: IETF protocol assignments (Teredo, ORCHID, ...).
        [0x2001, x, ..] if x < 0x200 => Reserved,
        [x, ..] if x & 0xfff0 == 0x3ff0 => Documentation,
        [0x5f00, ..] => Reserved,
        [x, ..] if x & 0xfe00 == 0xfc00 => Private,
        [x, ..] if x & 0xffc0 == 0xfe80 => LinkLocal,
        [x, ..] if x & 0xffc0 == 0xfec0 => Private,
        [x, ..] if x & 0xff00 == 0xff00 => Multicast,
        _ => return None,
    };
    Some(reason)
}

/// Normalises a host name for comparisons: lower case, no trailing dots.
fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl EgressPolicy {
    /// The default policy (public addresses only) with `allow_private` set as given.
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            ..Self::default()
        }
    }

    /// A policy for tests and trusted tenants: every address allowed (denied host names aside).
    pub fn permissive() -> Self {
        Self::new(true)
    }

    /// Checks one address that a connection would go to; `port` is the URL's effective port
    /// when known (exceptions restricted to a port never match an unknown port).
    pub fn check_address(&self, ip: IpAddr, port: Option<u16>) -> Result<(), RefusalReason> {
        let Some(reason) = classify(ip) else {
            return Ok(());
        };
        if self.allow_private {
            return Ok(());
        }
        let canonical = ip.to_canonical();
        if self
            .allowed
            .iter()
            .any(|a| a.matches(canonical, port) || a.matches(ip, port))
        {
            return Ok(());
        }
        Err(reason)
    }

    /// Whether `host` (a domain name) is on the deny list, itself or as a subdomain.
    pub fn is_denied_host(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.denied_hosts.iter().any(|denied| {
            let denied = normalise_host(denied);
            host == denied
                || (host.len() > denied.len()
                    && host.ends_with(&denied)
                    && host.as_bytes()[host.len() - denied.len() - 1] == b'.')
        })
    }

    /// The synchronous part of the guard, run before every hop without touching the network:
    /// the scheme must be http or https, the host must not be denied, and an IP-literal host
    /// (including the decimal, octal and hex IPv4 forms the URL parser normalises) must pass
    /// [`EgressPolicy::check_address`]. Domain names are checked again after resolution.
    pub fn check_url(&self, url: &Url) -> Result<(), HttpError> {
        let host_str = url.host_str().unwrap_or_default().to_string();
        let refuse = |address: Option<IpAddr>, reason: RefusalReason| HttpError::Refused {
            host: host_str.clone(),
            address,
            reason,
        };
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(refuse(None, RefusalReason::Scheme(other.to_string()))),
        }
        let port = url.port_or_known_default();
        let ip = match url.host() {
            None => return Err(refuse(None, RefusalReason::NoHost)),
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(Host::Domain(domain)) => {
                if domain.is_empty() {
                    return Err(refuse(None, RefusalReason::NoHost));
                }
                if self.is_denied_host(domain) {
                    return Err(refuse(None, RefusalReason::DeniedHost));
                }
                // A domain that still reads as an address would skip resolution: check it here.
                match normalise_host(domain).parse::<IpAddr>() {
                    Ok(ip) => ip,
                    Err(_) => return Ok(()),
                }
            }
        };
        self.check_address(ip, port)
            .map_err(|reason| refuse(Some(ip), reason))
    }
}
