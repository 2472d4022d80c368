//! Authentication: who is calling, from the bearer credential and the connection.
//!
//! - `Authorization: Bearer pc_...` is an API key, checked against the store on every
//!   request (so a revocation takes effect on the next request).
//! - Any other bearer token is an OIDC JWT, verified against the configured issuers'
//!   keys (see `portcullis_core::identity::jwt`). Keys are cached by issuer and `kid`; an
//!   unknown `kid` triggers one refresh, at most once per cooldown; if a refresh fails
//!   the stale set is kept.
//! - A client certificate verified by mTLS gives the workload's SPIFFE ID. Without a
//!   bearer credential the workload is the principal; with one, it is the workload the
//!   user's request came through, which policies see in `context.workload`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderMap};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use portcullis_core::config::{JwksSource, OidcIssuer};
use portcullis_core::identity::jwt::{self, JwtError, KeySet, VerifiedUser};
use portcullis_core::identity::{
    parse_key_id, verify_unknown, KeyRecord, Principal, PrincipalKind,
};
use secrecy::SecretString;

use crate::error::ApiError;
use crate::state::{unix_now, AppState};
use crate::tls::PeerIdentity;

struct IssuerState {
    cfg: OidcIssuer,
    keys: ArcSwap<KeySet>,
    last_refresh: Mutex<Option<Instant>>,
}

/// The configured OIDC issuers and their cached keys.
pub struct JwtVerifier {
    issuers: Vec<IssuerState>,
    client: Option<crate::upstream::HttpsClient>,
}

impl JwtVerifier {
    /// Loads file-based key sets now; URL-based ones are fetched on first use.
    pub fn new(issuers: &[OidcIssuer]) -> Result<Self, String> {
        let mut out = Vec::new();
        for i in issuers {
            let keys = match &i.jwks {
                JwksSource::File(p) => {
                    let bytes = std::fs::read(p).map_err(|e| {
                        format!("oidc issuer `{}`: {}: {e}", i.config.name, p.display())
                    })?;
                    KeySet::from_jwks(&bytes, &i.config.algorithms)
                        .map_err(|e| format!("oidc issuer `{}`: {e}", i.config.name))?
                }
                JwksSource::Url(_) => KeySet::default(),
            };
            out.push(IssuerState {
                cfg: i.clone(),
                keys: ArcSwap::from_pointee(keys),
                last_refresh: Mutex::new(None),
            });
        }
        let client = if issuers.iter().any(|i| matches!(i.jwks, JwksSource::Url(_))) {
            Some(crate::upstream::https_client(
                Duration::from_secs(5),
                false,
            )?)
        } else {
            None
        };
        Ok(Self {
            issuers: out,
            client,
        })
    }

    /// Whether any issuer is configured.
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// Verifies a token.
    pub async fn verify(&self, token: &str) -> Result<VerifiedUser, JwtError> {
        let max = self
            .issuers
            .iter()
            .map(|i| i.cfg.config.max_token_bytes)
            .max()
            .unwrap_or(jwt::DEFAULT_MAX_TOKEN_BYTES);
        let peeked = jwt::peek(token, max)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.cfg.config.issuer == peeked.iss)
            .ok_or(JwtError::UnknownIssuer)?;
        if token.len() > issuer.cfg.config.max_token_bytes {
            return Err(JwtError::TooLarge);
        }
        let known = match &peeked.kid {
            Some(k) => issuer.keys.load().contains(k),
            None => issuer.keys.load().len() == 1,
        };
        if !known {
            self.refresh(issuer).await;
        }
        jwt::verify(
            token,
            &issuer.cfg.config,
            &issuer.keys.load(),
            peeked.kid.as_deref(),
        )
    }

    /// Re-reads an issuer's keys, at most once per cooldown. A failure keeps the old set.
    async fn refresh(&self, issuer: &IssuerState) {
        {
            let mut last = issuer.last_refresh.lock();
            if last.is_some_and(|t| t.elapsed() < issuer.cfg.refresh_cooldown) {
                return;
            }
            *last = Some(Instant::now());
        }
        let fetched: Result<Vec<u8>, String> = match &issuer.cfg.jwks {
            JwksSource::File(p) => std::fs::read(p).map_err(|e| e.to_string()),
            JwksSource::Url(u) => self.fetch(u).await,
        };
        match fetched.and_then(|b| KeySet::from_jwks(&b, &issuer.cfg.config.algorithms)) {
            Ok(keys) => {
                tracing::info!(issuer = %issuer.cfg.config.name, keys = keys.len(), "JWKS refreshed");
                issuer.keys.store(Arc::new(keys));
            }
            Err(e) => {
                tracing::warn!(issuer = %issuer.cfg.config.name, error = %e, "JWKS refresh failed; keeping the previous keys")
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let client = self.client.as_ref().ok_or("no HTTP client")?;
        let req = http::Request::get(url)
            .header(header::ACCEPT, "application/json")
            .body(http_body_util::Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let fut = async {
            let resp = client.request(req).await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("status {}", resp.status()));
            }
            let body = http_body_util::Limited::new(resp.into_body(), 1 << 20)
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok(body.to_bytes().to_vec())
        };
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .map_err(|_| "timed out".to_string())?
    }
}

/// Establishes who is calling from the `Authorization` header and the connection.
pub async fn authenticate(
    st: &AppState,
    headers: &HeaderMap,
    peer: Option<&PeerIdentity>,
) -> Result<Principal, ApiError> {
    let workload = peer.and_then(|p| p.0.clone());
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        if let Some(w) = workload {
            return Ok(Principal {
                name: w.to_string(),
                groups: vec![],
                key_id: String::new(),
                kind: PrincipalKind::Workload,
                workload: Some(w),
            });
        }
        if let Some(anon) = &st.config.anonymous {
            return Ok(Principal::api_key(
                &anon.principal,
                anon.groups.clone(),
                "anonymous",
            ));
        }
        return Err(ApiError::MissingCredential);
    };
    let malformed = || ApiError::InvalidCredential("malformed authorization header".into());
    let value = value.to_str().map_err(|_| malformed())?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(malformed)?
        .trim();
    let mut principal = if token.starts_with(portcullis_core::identity::KEY_PREFIX) {
        api_key(st, token)?
    } else if !st.jwt.is_empty() {
        let user = st
            .jwt
            .verify(token)
            .await
            .map_err(|e| ApiError::InvalidCredential(e.to_string()))?;
        Principal {
            name: user.subject,
            groups: user.groups,
            key_id: String::new(),
            kind: PrincipalKind::User {
                issuer: user.issuer,
            },
            workload: None,
        }
    } else {
        return Err(malformed());
    };
    principal.workload = workload;
    Ok(principal)
}

/// Key records read from the store, each with the store's change marker read *before*
/// the lookup. An entry is used only while the marker is unchanged, so a revocation
/// committed by any writer (another process included) is seen by the next request; under
/// load the marker moves once per decision-writer batch, so most requests skip the
/// lookup. Only records are cached, never a verdict: the presented secret is hashed and
/// compared, and expiry checked, on every request.
#[derive(Default)]
pub struct KeyCache {
    entries: parking_lot::RwLock<std::collections::HashMap<String, (u64, Arc<KeyRecord>)>>,
}

/// Enough for every key of a large deployment; past it the cache starts over.
const KEY_CACHE_MAX: usize = 65_536;

impl KeyCache {
    fn get(&self, id: &str, marker: u64) -> Option<Arc<KeyRecord>> {
        let entries = self.entries.read();
        let (m, rec) = entries.get(id)?;
        (*m == marker).then(|| rec.clone())
    }

    fn put(&self, id: &str, marker: u64, rec: Arc<KeyRecord>) {
        let mut entries = self.entries.write();
        if entries.len() >= KEY_CACHE_MAX {
            entries.clear();
        }
        entries.insert(id.to_string(), (marker, rec));
    }
}

fn api_key(st: &AppState, token: &str) -> Result<Principal, ApiError> {
    let presented = SecretString::from(token.to_string());
    let id = parse_key_id(token).map_err(|e| ApiError::InvalidCredential(e.to_string()))?;
    let unavailable = |e: portcullis_store::StoreError| {
        tracing::error!(error = %e, "key lookup failed; refusing request");
        ApiError::Unavailable
    };
    let marker = st.store.change_marker().map_err(unavailable)?;
    let record = match st.keys.get(id, marker) {
        Some(r) => Some(r),
        None => {
            let r = st.store.get_key(id).map_err(unavailable)?.map(Arc::new);
            if let Some(r) = &r {
                st.keys.put(id, marker, r.clone());
            }
            r
        }
    };
    match record {
        None => Err(ApiError::InvalidCredential(
            verify_unknown(&presented).to_string(),
        )),
        Some(r) => r
            .verify(&presented, unix_now())
            .map_err(|e| ApiError::InvalidCredential(e.to_string())),
    }
}
