//! Who a request comes from.
//!
//! Until authentication lands (issue 3), the tenant and actor are taken from
//! the `X-Tenant-Id` and `X-Actor` headers, defaulting to the default tenant
//! and `anonymous`. The trace id comes from a W3C `traceparent` header when
//! present, so a caller's trace continues into our events.

use axum::http::HeaderMap;
use domain::ids::TenantId;
use uuid::Uuid;

/// The caller of one request.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The tenant the request acts in.
    pub tenant_id: TenantId,
    /// Who the caller is.
    pub actor: String,
    /// The request's trace id (32 hex digits).
    pub trace_id: String,
}

/// A header that cannot be understood.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IdentityError(String);

/// Longest accepted actor name.
const MAX_ACTOR_LEN: usize = 200;

impl Identity {
    /// Reads the identity headers of a request.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, IdentityError> {
        let header = |name: &str| -> Result<Option<&str>, IdentityError> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str()
                        .map_err(|_| IdentityError(format!("header {name} is not valid text")))
                })
                .transpose()
        };
        let tenant_id = match header("x-tenant-id")? {
            Some(raw) => raw.trim().parse().map_err(|_| {
                IdentityError(format!("header X-Tenant-Id must be a UUID, got '{raw}'"))
            })?,
            None => TenantId::DEFAULT,
        };
        let actor = match header("x-actor")? {
            Some(raw) if !raw.trim().is_empty() && raw.len() <= MAX_ACTOR_LEN => {
                raw.trim().to_owned()
            }
            Some(_) => {
                return Err(IdentityError(format!(
                    "header X-Actor must be 1 to {MAX_ACTOR_LEN} characters"
                )))
            }
            None => "anonymous".to_owned(),
        };
        let trace_id = header("traceparent")?
            .and_then(trace_id_of)
            .unwrap_or_else(|| Uuid::new_v4().simple().to_string());
        Ok(Self {
            tenant_id,
            actor,
            trace_id,
        })
    }
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    let valid = trace_id.len() == 32
        && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
        && trace_id != "00000000000000000000000000000000";
    valid.then(|| trace_id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tenant_actor_and_traceparent() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-tenant-id",
            "7f1d2b8e-8a55-4f43-9d6e-6b3a0c1b2d3e".parse().unwrap(),
        );
        headers.insert("x-actor", "alice".parse().unwrap());
        headers.insert(
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let id = Identity::from_headers(&headers).unwrap();
        assert_eq!(
            id.tenant_id.to_string(),
            "7f1d2b8e-8a55-4f43-9d6e-6b3a0c1b2d3e"
        );
        assert_eq!(id.actor, "alice");
        assert_eq!(id.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn defaults_and_rejections() {
        let id = Identity::from_headers(&HeaderMap::new()).unwrap();
        assert_eq!(id.tenant_id, TenantId::DEFAULT);
        assert_eq!(id.actor, "anonymous");
        assert_eq!(id.trace_id.len(), 32);

        let mut headers = HeaderMap::new();
        headers.insert("x-tenant-id", "acme".parse().unwrap());
        let err = Identity::from_headers(&headers).unwrap_err();
        assert_eq!(
            err.to_string(),
            "header X-Tenant-Id must be a UUID, got 'acme'"
        );
    }
}
