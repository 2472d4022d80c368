//! TLS and mTLS on the data-plane listener, with SPIFFE workload identity.
//!
//! The server certificate and key are read from files and can be reloaded (SIGHUP)
//! without dropping connections: each new handshake uses the configuration current at
//! that moment, established connections keep theirs.
//!
//! Client certificates are X.509-SVIDs. [`SpiffeClientVerifier`] accepts one only if the
//! leaf has exactly one URI SAN that is a valid SPIFFE ID, is not a CA, and chains to the
//! trust bundle of **its own** trust domain: a CA trusted for domain A cannot mint
//! identities for domain B. Chain, validity and key-usage checks are rustls' webpki
//! verifier, run per trust domain; this module only chooses which one. (The
//! `spiffe-rustls` crate couples this to the SPIFFE Workload API over gRPC; the gateway
//! reads bundles from files, so the selection logic lives here.)

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use portcullis_core::config::{ClientAuth, TlsConfig};
use portcullis_core::identity::spiffe::SpiffeId;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};

/// The verified workload identity of a connection, attached to each of its requests.
#[derive(Debug, Clone, Default)]
pub struct PeerIdentity(pub Option<SpiffeId>);

/// Reads the SPIFFE ID of a leaf certificate: exactly one URI SAN, a valid SPIFFE ID,
/// and not a CA.
pub fn spiffe_id_of(der: &[u8]) -> Result<SpiffeId, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("unparsable certificate: {e}"))?;
    if let Ok(Some(bc)) = cert.basic_constraints() {
        if bc.value.ca {
            return Err("a CA certificate cannot be a workload identity".into());
        }
    }
    let mut uris = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::URI(u) = n {
                uris.push(*u);
            }
        }
    }
    match uris.as_slice() {
        [one] => SpiffeId::parse(one).map_err(|e| format!("URI SAN is not a SPIFFE ID: {e}")),
        [] => Err("no URI SAN".into()),
        _ => Err("more than one URI SAN".into()),
    }
}

/// Verifies client X.509-SVIDs against the bundle of their own trust domain.
#[derive(Debug)]
pub struct SpiffeClientVerifier {
    domains: HashMap<String, Arc<dyn ClientCertVerifier>>,
    hints: Vec<DistinguishedName>,
    mandatory: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

fn reject(why: &str) -> rustls::Error {
    tracing::info!(reason = why, "client certificate rejected");
    rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let id = spiffe_id_of(end_entity).map_err(|e| reject(&e))?;
        let verifier = self
            .domains
            .get(id.trust_domain())
            .ok_or_else(|| reject("no trust bundle for the certificate's trust domain"))?;
        verifier.verify_client_cert(end_entity, intermediates, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificates", path.display()));
    }
    Ok(certs)
}

/// Builds the rustls server configuration from files.
pub fn server_config(cfg: &TlsConfig) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&cfg.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&cfg.key_file)
        .map_err(|e| format!("{}: {e}", cfg.key_file.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if cfg.client_auth == ClientAuth::None {
        builder.with_no_client_auth()
    } else {
        let mut domains: HashMap<String, Arc<dyn ClientCertVerifier>> = HashMap::new();
        let mut hints = Vec::new();
        for (td, bundle) in &cfg.trust_domains {
            let mut roots = RootCertStore::empty();
            for c in read_certs(bundle)? {
                roots
                    .add(c)
                    .map_err(|e| format!("{}: {e}", bundle.display()))?;
            }
            hints.extend(roots.subjects());
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("{}: {e}", bundle.display()))?;
            domains.insert(td.clone(), v);
        }
        builder.with_client_cert_verifier(Arc::new(SpiffeClientVerifier {
            domains,
            hints,
            mandatory: cfg.client_auth == ClientAuth::Required,
            provider,
        }))
    };
    let mut sc = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", cfg.cert_file.display()))?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(sc)
}

/// The current TLS configuration, swapped whole on reload.
pub struct TlsSwitch {
    cfg: TlsConfig,
    current: ArcSwap<rustls::ServerConfig>,
}

impl TlsSwitch {
    /// Loads the files.
    pub fn new(cfg: &TlsConfig) -> Result<Self, String> {
        Ok(Self {
            current: ArcSwap::from_pointee(server_config(cfg)?),
            cfg: cfg.clone(),
        })
    }

    /// Re-reads certificate, key and bundles; on error the current configuration stays.
    pub fn reload(&self) -> Result<(), String> {
        let sc = server_config(&self.cfg)?;
        self.current.store(Arc::new(sc));
        Ok(())
    }

    /// An acceptor with the configuration of this moment.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }
}
