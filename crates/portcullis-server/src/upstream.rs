//! Upstream model servers: pooled HTTP clients, timeouts, and error mapping.
//!
//! Each configured upstream gets one pooled client (keep-alive, TLS by rustls with the
//! Mozilla roots). The gateway builds the upstream URL from the configuration alone
//! (`base_url` + the endpoint path); nothing from the caller's path, query string or
//! headers reaches it. The credential is attached here and nowhere else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use portcullis_core::config::{CredentialSource, Upstream, UpstreamKind};
use secrecy::{ExposeSecret, SecretString};

use crate::error::ApiError;

/// The pooled HTTP(S) client type.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A ready upstream: its config, client and credential.
pub struct UpstreamClient {
    /// The configuration.
    pub config: Upstream,
    client: Option<HttpsClient>,
    auth: Option<HeaderValue>,
}

/// What an upstream answered, before its body is read.
pub struct UpstreamResponse {
    /// Status.
    pub status: StatusCode,
    /// Whether the body is server-sent events.
    pub is_sse: bool,
    /// `Retry-After`, when the upstream sent one.
    pub retry_after: Option<Duration>,
    /// The body, still streaming.
    pub body: Incoming,
}

/// Reads a credential from where the config says.
pub fn read_credential(src: &CredentialSource) -> Result<Option<SecretString>, String> {
    match src {
        CredentialSource::None => Ok(None),
        CredentialSource::Env(name) => std::env::var(name)
            .map(|v| Some(SecretString::from(v.trim().to_string())))
            .map_err(|_| format!("environment variable `{name}` is not set")),
        CredentialSource::File(path) => std::fs::read_to_string(path)
            .map(|v| Some(SecretString::from(v.trim().to_string())))
            .map_err(|e| format!("cannot read credential file {}: {e}", path.display())),
        CredentialSource::Plaintext(s) => Ok(Some(s.clone())),
    }
}

mod danger {
    //! The verifier behind `dangerous.skip_tls_verify`: accepts any certificate.
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    pub struct NoVerify(pub rustls::crypto::CryptoProvider);

    impl ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

fn build_client(u: &Upstream) -> Result<HttpsClient, String> {
    https_client(u.connect_timeout, u.skip_tls_verify)
}

/// A pooled HTTP(S) client with rustls and the Mozilla roots.
pub fn https_client(
    connect_timeout: Duration,
    skip_tls_verify: bool,
) -> Result<HttpsClient, String> {
    let provider = rustls::crypto::ring::default_provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider.clone()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let tls = if skip_tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(danger::NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(https))
}

impl UpstreamClient {
    /// Builds the client and reads the credential.
    pub fn new(config: Upstream) -> Result<Self, String> {
        let secret = read_credential(&config.credential)
            .map_err(|e| format!("upstream `{}`: {e}", config.name))?;
        let auth = match secret {
            None => None,
            Some(s) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", s.expose_secret()))
                    .map_err(|_| {
                        format!(
                            "upstream `{}`: credential has characters not allowed in a header",
                            config.name
                        )
                    })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let client = match config.kind {
            UpstreamKind::Mock => None,
            UpstreamKind::OpenAi => Some(build_client(&config)?),
        };
        Ok(Self {
            config,
            client,
            auth,
        })
    }

    /// Whether this is the built-in mock.
    pub fn is_mock(&self) -> bool {
        self.client.is_none()
    }

    /// POSTs `body` to `<base_url><path>` and waits for the response head, within the
    /// first-byte timeout.
    pub async fn post(
        &self,
        path: &'static str,
        body: Bytes,
        deadline: Instant,
    ) -> Result<UpstreamResponse, ApiError> {
        let client = self.client.as_ref().ok_or(ApiError::UpstreamUnavailable)?;
        let uri = format!("{}{}", self.config.base_url, path);
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(
                header::USER_AGENT,
                concat!("portcullis/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            .map_err(|_| ApiError::UpstreamUnavailable)?;
        if let Some(a) = &self.auth {
            req.headers_mut().insert(header::AUTHORIZATION, a.clone());
        }
        let first_byte = tokio::time::Instant::now() + self.config.first_byte_timeout;
        let limit = first_byte.min(tokio::time::Instant::from_std(deadline));
        let resp = match tokio::time::timeout_at(limit, client.request(req)).await {
            Err(_) => return Err(ApiError::UpstreamTimeout),
            Ok(Err(e)) => {
                if is_timeout(&e) {
                    return Err(ApiError::UpstreamTimeout);
                }
                tracing::warn!(upstream = %self.config.name, error = %e, "upstream request failed");
                return Err(ApiError::UpstreamUnavailable);
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let is_sse = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Ok(UpstreamResponse {
            status,
            is_sse,
            retry_after,
            body: resp.into_body(),
        })
    }

    /// Reads a whole (non-streamed) body within the size limit and the deadline.
    pub async fn read_body(&self, body: Incoming, deadline: Instant) -> Result<Bytes, ApiError> {
        let limited = http_body_util::Limited::new(body, self.config.max_response_bytes);
        match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), limited.collect())
            .await
        {
            Err(_) => Err(ApiError::UpstreamTimeout),
            Ok(Err(e)) => {
                tracing::warn!(upstream = %self.config.name, error = %e, "reading upstream body failed");
                Err(ApiError::UpstreamInvalid)
            }
            Ok(Ok(c)) => Ok(c.to_bytes()),
        }
    }
}

fn is_timeout(e: &hyper_util::client::legacy::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        if s.to_string().contains("timed out") {
            return true;
        }
        src = s.source();
    }
    false
}

/// Maps an upstream error status to the caller's error. The upstream's body is logged at
/// debug level only: it may name internal model ids or accounts.
pub fn status_error(status: StatusCode, retry_after: Option<Duration>) -> ApiError {
    match status.as_u16() {
        429 => ApiError::UpstreamRateLimited(retry_after),
        401 | 403 => ApiError::UpstreamStatus(502),
        s => ApiError::UpstreamStatus(s),
    }
}

/// All upstreams by name.
pub type Upstreams = BTreeMap<String, Arc<UpstreamClient>>;

/// Builds every upstream in the config.
pub fn build_all(config: &portcullis_core::config::Config) -> Result<Upstreams, String> {
    config
        .upstreams
        .values()
        .map(|u| Ok((u.name.clone(), Arc::new(UpstreamClient::new(u.clone())?))))
        .collect()
}
