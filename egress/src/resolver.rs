//! The DNS resolver of every connection: resolves a host name once and refuses the
//! connection unless every address passes the policy, so the addresses checked are exactly
//! the addresses connected to.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::HttpError;
use crate::policy::{AllowedTarget, EgressPolicy, RefusalReason};

/// The part of a policy that decides which addresses a connection may go to, plus the port
/// when an exception is port-restricted (the resolver is not told the port, so such policies
/// get one connection pool per port). Requests with equal keys share a connection pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GuardKey {
    allow_private: bool,
    allowed: Vec<AllowedTarget>,
    port: Option<u16>,
}

impl GuardKey {
    /// The key for a request to `port` under `policy`.
    pub(crate) fn new(policy: &EgressPolicy, port: Option<u16>) -> Self {
        if policy.allow_private {
            return Self {
                allow_private: true,
                allowed: Vec::new(),
                port: None,
            };
        }
        let port_restricted = policy.allowed.iter().any(|a| a.port.is_some());
        Self {
            allow_private: false,
            allowed: policy.allowed.clone(),
            port: if port_restricted { port } else { None },
        }
    }

    fn policy(&self) -> EgressPolicy {
        EgressPolicy {
            allow_private: self.allow_private,
            allowed: self.allowed.clone(),
            ..EgressPolicy::default()
        }
    }
}

/// A resolved address refused by the policy; found again in the error chain by the client.
#[derive(Debug)]
pub(crate) struct AddressRefused {
    pub(crate) host: String,
    pub(crate) address: IpAddr,
    pub(crate) reason: RefusalReason,
}

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolved to {}: {}",
            self.host, self.address, self.reason
        )
    }
}

impl std::error::Error for AddressRefused {}

impl AddressRefused {
    /// Finds a refusal in an error's source chain.
    pub(crate) fn find(error: &(dyn std::error::Error + 'static)) -> Option<HttpError> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(r) = e.downcast_ref::<AddressRefused>() {
                return Some(HttpError::Refused {
                    host: r.host.clone(),
                    address: Some(r.address),
                    reason: r.reason.clone(),
                });
            }
            current = e.source();
        }
        None
    }
}

/// The resolver installed in each pooled client.
pub(crate) struct GuardedResolver {
    policy: EgressPolicy,
    port: Option<u16>,
}

impl GuardedResolver {
    pub(crate) fn new(key: &GuardKey) -> Self {
        Self {
            policy: key.policy(),
            port: key.port,
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let policy = self.policy.clone();
        let port = self.port;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolved to no address").into());
            }
            for addr in &addrs {
                if let Err(reason) = policy.check_address(addr.ip(), port) {
                    return Err(Box::new(AddressRefused {
                        host,
                        address: addr.ip(),
                        reason,
                    }) as _);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
