//! HTTPS: rustls, with rsyslog's two relaxations as curl means them.
//! - `allowUnsignedCerts="on"` (rsyslog's default): no certificate check at
//!   all (curl's `CURLOPT_SSL_VERIFYPEER` off). The handshake's signatures
//!   are still checked, so the connection is encrypted to whoever holds the
//!   certificate's key.
//! - `skipVerifyHost="on"`: the chain must lead to a trusted authority, but
//!   the certificate need not name the server (`CURLOPT_SSL_VERIFYHOST` off).
//!
//! The authorities are `tls.caCert`'s (a PEM file), else Mozilla's list.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use crate::params::ActionSettings;

/// The TLS set-up could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.caCert {}: {why}", path.display())]
    CaCert { path: PathBuf, why: String },
    #[error("TLS set-up: {0}")]
    Rustls(String),
}

pub fn client_config(settings: &ActionSettings) -> Result<ClientConfig, TlsError> {
    // ring, not aws-lc-rs: no C++/cmake build. rustls marks ring's provider
    // deprecated for want of post-quantum key exchange, which a log
    // database's HTTPS port does not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &settings.ca_cert {
        Some(path) => {
            let ca_error = |why: String| TlsError::CaCert { path: path.clone(), why };
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| ca_error(e.to_string()))? {
                roots.add(cert.map_err(|e| ca_error(e.to_string()))?).map_err(|e| ca_error(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(ca_error("holds no certificate".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().map_err(|e| TlsError::Rustls(e.to_string()))?;
    let verifier =
        Arc::new(Verifier { webpki, provider: provider.clone(), check_chain: !settings.allow_unsigned_certs, check_name: !settings.skip_verify_host });
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    check_chain: bool,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.check_chain {
            return Ok(ServerCertVerified::assertion());
        }
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) if !self.check_name => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
