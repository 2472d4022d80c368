//! Certificates for tests, made at run time with rcgen: a CA per SPIFFE trust domain,
//! a server certificate for 127.0.0.1, and client SVIDs good and bad.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate authority for one trust domain.
pub struct TestCa {
    /// The trust domain.
    pub trust_domain: String,
    /// CA certificate, PEM.
    pub pem: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
pub struct TestCert {
    /// Certificate chain, PEM (leaf first).
    pub cert_pem: String,
    /// Private key, PEM.
    pub key_pem: String,
}

/// Ways to spoil a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// A good SVID.
    None,
    /// Validity ended yesterday.
    Expired,
    /// Two URI SANs.
    TwoUris,
    /// An `https://` URI instead of `spiffe://`.
    NotSpiffe,
    /// Marked as a CA.
    IsCa,
}

impl TestCa {
    /// A new CA for `trust_domain`.
    pub fn new(trust_domain: &str) -> Self {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, format!("{trust_domain} test CA"));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        if let Ok(uri) = format!("spiffe://{trust_domain}").try_into() {
            p.subject_alt_names = vec![SanType::URI(uri)];
        }
        let issuer = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        Self {
            trust_domain: trust_domain.into(),
            pem: issuer.pem(),
            issuer,
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server_cert(&self) -> TestCert {
        let mut p =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        TestCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A client X.509-SVID for `path` in this trust domain, with an optional flaw.
    pub fn svid(&self, path: &str, flaw: Flaw) -> TestCert {
        self.issue(&self.trust_domain.clone(), path, flaw)
    }

    /// An SVID for another trust domain, signed by this CA: what a CA trusted for one
    /// domain would mint to impersonate a workload of another.
    pub fn svid_in(&self, trust_domain: &str, path: &str) -> TestCert {
        self.issue(trust_domain, path, Flaw::None)
    }

    fn issue(&self, trust_domain: &str, path: &str, flaw: Flaw) -> TestCert {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let id = format!("spiffe://{trust_domain}{path}");
        let uri = |s: &str| SanType::URI(s.to_string().try_into().unwrap());
        p.subject_alt_names = match flaw {
            Flaw::TwoUris => vec![uri(&id), uri(&format!("{id}-second"))],
            Flaw::NotSpiffe => vec![uri(&format!("https://{trust_domain}{path}"))],
            _ => vec![uri(&id)],
        };
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if flaw == Flaw::IsCa {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages.push(KeyUsagePurpose::KeyCertSign);
        }
        if flaw == Flaw::Expired {
            let now = time::OffsetDateTime::now_utc();
            p.not_before = now - time::Duration::days(10);
            p.not_after = now - time::Duration::days(1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        TestCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// An HTTPS client trusting `ca_pem`, presenting `client` when given.
pub fn https_client(
    ca_pem: &str,
    client: Option<&TestCert>,
) -> hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match client {
        None => b.with_no_client_auth(),
        Some(c) => {
            let chain: Vec<_> = CertificateDer::pem_slice_iter(c.cert_pem.as_bytes())
                .map(|c| c.unwrap())
                .collect();
            let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        }
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(cfg)
        .https_only()
        .enable_http1()
        .build();
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
}

/// POSTs JSON over a client from [`https_client`]; returns the status and body, or the
/// connection error's text (a refused handshake).
pub async fn post_json(
    client: &hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        http_body_util::Full<bytes::Bytes>,
    >,
    url: &str,
    bearer: Option<&str>,
    body: &serde_json::Value,
) -> Result<(u16, serde_json::Value), String> {
    use http_body_util::BodyExt;
    let mut req = http::Request::post(url).header("content-type", "application/json");
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap();
    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e:?}"))?
        .to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    ))
}
