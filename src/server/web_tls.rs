//! `tls_server_config` of the web config file, as exporter-toolkit has it:
//! certificate and key, client certificates (`client_ca_file`,
//! `client_auth_type`, `client_allowed_sans`), `min_version`/`max_version`,
//! `cipher_suites`, `prefer_server_cipher_suites` and `curve_preferences`.
//!
//! The files are read with the bounded reader ([`crate::config::secret_file`]).
//! They are looked at again (a `stat`, at most once per [`RECHECK`]) when a
//! connection comes in; when one changed (a renewal), all are re-read and the
//! new ones are used. A broken renewal keeps the old ones and logs one line.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::Deserialize;

use crate::config::environment::{credential_path, Environment};
use crate::config::secret_file;

/// How often at most the certificate files are checked for a change.
pub const RECHECK: Duration = Duration::from_secs(1);

/// `tls_server_config` as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsFile {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_allowed_sans: Option<Vec<String>>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Option<Vec<String>>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    curve_preferences: Option<Vec<String>>,
}

/// exporter-toolkit's `client_auth_type` values (Go's `tls.ClientAuthType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    No,
    Request,
    RequireAny,
    VerifyIfGiven,
    RequireAndVerify,
}

/// Why the TLS settings or files cannot be used; one line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// An unknown `client_auth_type`.
    #[error("client_auth_type {0:?} is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert")]
    ClientAuthType(String),
    /// `client_ca_file` without asking for client certificates.
    #[error("client_ca_file is set but client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert")]
    CaWithoutClientAuth,
    /// A verifying `client_auth_type` without `client_ca_file`.
    #[error(
        "client_auth_type {0} needs client_ca_file, the CA that signs the client certificates"
    )]
    VerifyWithoutCa(String),
    /// `client_allowed_sans` without asking for client certificates.
    #[error("client_allowed_sans is set but no client certificate is asked for; set client_auth_type: RequireAndVerifyClientCert")]
    SansWithoutClientAuth,
    /// TLS 1.0 or 1.1 asked for.
    #[error("{key} {name} is not supported: this exporter (rustls) speaks TLS12 and TLS13 only")]
    OldVersion { key: &'static str, name: String },
    /// Not a TLS version name.
    #[error("{key} {name:?} is not one of TLS10, TLS11, TLS12, TLS13")]
    UnknownVersion { key: &'static str, name: String },
    /// `min_version` above `max_version`.
    #[error("min_version is above max_version")]
    MinAboveMax,
    /// A cipher suite rustls lacks; `offered` lists the ones it has.
    #[error("cipher_suites: {name} is not supported by this exporter (rustls); it has {offered}")]
    CipherSuite { name: String, offered: String },
    /// CurveP521, which rustls lacks.
    #[error("curve_preferences: CurveP521 is not supported by this exporter (rustls); it has X25519, CurveP256, CurveP384")]
    CurveP521,
    /// Not a curve name.
    #[error("curve_preferences: {0:?} is not one of X25519, CurveP256, CurveP384, CurveP521")]
    UnknownCurve(String),
    /// `curve_preferences` names no curve.
    #[error("curve_preferences is empty")]
    NoCurves,
    /// The private key file cannot be read.
    #[error("cannot read the private key from {file}: it {why}")]
    KeyUnreadable {
        file: String,
        why: secret_file::TextError,
    },
    /// The private key file holds no usable PEM key.
    #[error("cannot read the private key from {file}: {why}")]
    KeyNotPem {
        file: String,
        why: rustls::pki_types::pem::Error,
    },
    /// The versions, suites and curves leave nothing to speak.
    #[error("TLS setup (min_version, max_version, cipher_suites, curve_preferences do not fit together): {0}")]
    Versions(rustls::Error),
    /// A client CA certificate rustls refuses.
    #[error("client_ca_file {file}: {why}")]
    ClientCa { file: String, why: rustls::Error },
    /// The client certificate verifier cannot be built from the CAs.
    #[error("client_ca_file {file}: {why}")]
    ClientVerifier {
        file: String,
        why: rustls::server::VerifierBuilderError,
    },
    /// The certificate and the key do not go together.
    #[error("{cert} and {key} do not form a usable certificate and key: {why}")]
    CertAndKey {
        cert: String,
        key: String,
        why: rustls::Error,
    },
    /// A certificate file cannot be read.
    #[error("cannot read {what} from {file}: it {why}")]
    CertsUnreadable {
        what: &'static str,
        file: String,
        why: secret_file::TextError,
    },
    /// A certificate file is not PEM.
    #[error("cannot read {what} from {file}: {why}")]
    CertsNotPem {
        what: &'static str,
        file: String,
        why: rustls::pki_types::pem::Error,
    },
    /// A certificate file holds no certificate.
    #[error("no certificate in {0}")]
    NoCertificate(String),
}

impl ClientAuth {
    fn parse(s: Option<&str>) -> Result<ClientAuth, TlsError> {
        Ok(match s.unwrap_or("") {
            "" | "NoClientCert" => ClientAuth::No,
            "RequestClientCert" => ClientAuth::Request,
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAny,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
            other => return Err(TlsError::ClientAuthType(other.to_owned())),
        })
    }
}

/// The settings, checked; files not yet read.
#[derive(Debug, Clone)]
struct Settings {
    cert: (PathBuf, PathBuf),
    key: (PathBuf, PathBuf),
    client_ca: Option<(PathBuf, PathBuf)>,
    client_auth: ClientAuth,
    allowed_sans: Option<Vec<String>>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    provider: Arc<CryptoProvider>,
    ignore_client_order: bool,
}

/// Go's TLS 1.3 suite names: accepted and without effect, as in Go (TLS 1.3
/// suites are not configurable there).
const TLS13_NAMES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

fn version(name: &str, key: &'static str) -> Result<u8, TlsError> {
    match name {
        "TLS12" => Ok(2),
        "TLS13" => Ok(3),
        "TLS10" | "TLS11" => Err(TlsError::OldVersion {
            key,
            name: name.to_owned(),
        }),
        other => Err(TlsError::UnknownVersion {
            key,
            name: other.to_owned(),
        }),
    }
}

impl Settings {
    fn new(t: &TlsFile, env: &Environment) -> Result<Settings, TlsError> {
        let client_auth = ClientAuth::parse(t.client_auth_type.as_deref())?;
        let verifying = matches!(
            client_auth,
            ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify
        );
        if t.client_ca_file.is_some() && client_auth == ClientAuth::No {
            return Err(TlsError::CaWithoutClientAuth);
        }
        if verifying && t.client_ca_file.is_none() {
            return Err(TlsError::VerifyWithoutCa(
                t.client_auth_type.clone().unwrap_or_default(),
            ));
        }
        if t.client_allowed_sans.is_some() && client_auth == ClientAuth::No {
            return Err(TlsError::SansWithoutClientAuth);
        }
        let min = version(t.min_version.as_deref().unwrap_or("TLS12"), "min_version")?;
        let max = version(t.max_version.as_deref().unwrap_or("TLS13"), "max_version")?;
        if min > max {
            return Err(TlsError::MinAboveMax);
        }
        let versions: Vec<&'static rustls::SupportedProtocolVersion> =
            [(3, &rustls::version::TLS13), (2, &rustls::version::TLS12)]
                .into_iter()
                .filter(|(v, _)| (min..=max).contains(v))
                .map(|(_, p)| p)
                .collect();

        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(names) = &t.cipher_suites {
            let all = provider.cipher_suites.clone();
            let tls12_name = |s: &rustls::SupportedCipherSuite| {
                s.suite().as_str().filter(|_| s.tls13().is_none())
            };
            let mut chosen: Vec<rustls::SupportedCipherSuite> = all
                .iter()
                .filter(|s| s.tls13().is_some())
                .copied()
                .collect();
            let mut tls12 = Vec::new();
            for name in names {
                if TLS13_NAMES.contains(&name.as_str()) {
                    continue;
                }
                match all.iter().find(|s| tls12_name(s) == Some(name.as_str())) {
                    Some(s) => {
                        if !tls12.contains(s) {
                            tls12.push(*s);
                        }
                    }
                    None => {
                        let offered: Vec<&str> = all.iter().filter_map(tls12_name).collect();
                        return Err(TlsError::CipherSuite {
                            name: name.clone(),
                            offered: offered.join(", "),
                        });
                    }
                }
            }
            // TLS 1.2 suites in the file's order, before the TLS 1.3 ones
            // (rustls picks per version).
            tls12.append(&mut chosen);
            provider.cipher_suites = tls12;
        }
        if let Some(names) = &t.curve_preferences {
            let all = provider.kx_groups.clone();
            let mut groups = Vec::new();
            for name in names {
                let want = match name.as_str() {
                    "X25519" => rustls::NamedGroup::X25519,
                    "CurveP256" => rustls::NamedGroup::secp256r1,
                    "CurveP384" => rustls::NamedGroup::secp384r1,
                    "CurveP521" => return Err(TlsError::CurveP521),
                    other => return Err(TlsError::UnknownCurve(other.to_owned())),
                };
                if let Some(g) = all.iter().find(|g| g.name() == want) {
                    if !groups
                        .iter()
                        .any(|x: &&dyn rustls::crypto::SupportedKxGroup| x.name() == want)
                    {
                        groups.push(*g);
                    }
                }
            }
            if groups.is_empty() {
                return Err(TlsError::NoCurves);
            }
            provider.kx_groups = groups;
        }
        let pair = |p: &Path| (p.to_path_buf(), credential_path(p, env));
        Ok(Settings {
            cert: pair(&t.cert_file),
            key: pair(&t.key_file),
            client_ca: t.client_ca_file.as_deref().map(pair),
            client_auth,
            allowed_sans: t.client_allowed_sans.clone(),
            versions,
            provider: Arc::new(provider),
            ignore_client_order: t.prefer_server_cipher_suites.unwrap_or(true),
        })
    }

    fn files(&self) -> Vec<&Path> {
        let mut v = vec![self.cert.1.as_path(), self.key.1.as_path()];
        if let Some(ca) = &self.client_ca {
            v.push(ca.1.as_path());
        }
        v
    }

    /// What identifies the files' current versions (a renewal changes it).
    fn stamps(&self) -> Vec<Option<Stamp>> {
        self.files().into_iter().map(Stamp::of).collect()
    }

    /// Read the files and build the acceptor.
    fn build(&self) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        let (cert_name, cert_path) = &self.cert;
        let (key_name, key_path) = &self.key;
        let certs = read_certs(cert_name, cert_path, "certificates")?;
        let key_pem =
            secret_file::read_text(key_path, secret_file::MAX_PEM_FILE).map_err(|why| {
                TlsError::KeyUnreadable {
                    file: key_name.display().to_string(),
                    why,
                }
            })?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|why| {
            TlsError::KeyNotPem {
                file: key_name.display().to_string(),
                why,
            }
        })?;
        let builder = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(TlsError::Versions)?;
        let algs = self.provider.signature_verification_algorithms;
        let builder = match self.client_auth {
            ClientAuth::No => builder.with_no_client_auth(),
            auth => {
                let mut hints = Vec::new();
                let mut inner = None;
                if let Some((ca_name, ca_path)) = &self.client_ca {
                    let cas = read_certs(ca_name, ca_path, "client CA certificates")?;
                    let mut roots = rustls::RootCertStore::empty();
                    for ca in cas {
                        roots.add(ca).map_err(|why| TlsError::ClientCa {
                            file: ca_name.display().to_string(),
                            why,
                        })?;
                    }
                    hints = roots.subjects();
                    if matches!(
                        auth,
                        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify
                    ) {
                        let mut b = WebPkiClientVerifier::builder_with_provider(
                            Arc::new(roots),
                            self.provider.clone(),
                        );
                        if auth == ClientAuth::VerifyIfGiven {
                            b = b.allow_unauthenticated();
                        }
                        inner = Some(b.build().map_err(|why| TlsError::ClientVerifier {
                            file: ca_name.display().to_string(),
                            why,
                        })?);
                    }
                }
                builder.with_client_cert_verifier(Arc::new(ClientPolicy {
                    inner,
                    mandatory: matches!(
                        auth,
                        ClientAuth::RequireAny | ClientAuth::RequireAndVerify
                    ),
                    allowed_sans: self.allowed_sans.clone(),
                    algs,
                    hints,
                }))
            }
        };
        let mut config =
            builder
                .with_single_cert(certs, key)
                .map_err(|why| TlsError::CertAndKey {
                    cert: cert_name.display().to_string(),
                    key: key_name.display().to_string(),
                    why,
                })?;
        config.ignore_client_order = self.ignore_client_order;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

fn read_certs(
    name: &Path,
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file = || name.display().to_string();
    let pem = secret_file::read_text(path, secret_file::MAX_PEM_FILE).map_err(|why| {
        TlsError::CertsUnreadable {
            what,
            file: file(),
            why,
        }
    })?;
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|why| TlsError::CertsNotPem {
            what,
            file: file(),
            why,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(file()));
    }
    Ok(certs)
}

/// A file's identity and version: device, inode, size, modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.modified().ok(),
        })
    }
}

struct Current {
    acceptor: tokio_rustls::TlsAcceptor,
    stamps: Vec<Option<Stamp>>,
    checked: Instant,
    /// The stamps of a change that failed to load (logged once).
    failed: Option<Vec<Option<Stamp>>>,
}

/// TLS for the server: the acceptor of the current certificate files.
pub struct Tls {
    settings: Settings,
    current: Mutex<Current>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert_file", &self.settings.cert.0)
            .finish()
    }
}

impl Tls {
    /// Check the settings and read the files; the error is one line.
    pub(crate) fn load(t: &TlsFile, env: &Environment) -> Result<Tls, TlsError> {
        let settings = Settings::new(t, env)?;
        let stamps = settings.stamps();
        let acceptor = settings.build()?;
        Ok(Tls {
            settings,
            current: Mutex::new(Current {
                acceptor,
                stamps,
                checked: Instant::now(),
                failed: None,
            }),
        })
    }

    /// The acceptor for a new connection: re-read the files first if one
    /// changed since they were read (checked at most once per [`RECHECK`]).
    /// If the changed files do not load, the old acceptor stays and one
    /// line says why.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.checked.elapsed() < RECHECK {
            return cur.acceptor.clone();
        }
        cur.checked = Instant::now();
        let stamps = self.settings.stamps();
        if stamps == cur.stamps || cur.failed.as_ref() == Some(&stamps) {
            return cur.acceptor.clone();
        }
        match self.settings.build() {
            Ok(a) => {
                tracing::info!(
                    "TLS: certificate files changed; using the new ones from {}",
                    self.settings.cert.0.display()
                );
                cur.acceptor = a;
                cur.stamps = stamps;
                cur.failed = None;
            }
            Err(e) => {
                tracing::warn!(
                    "TLS: the changed certificate files cannot be used, keeping the old ones: {e}"
                );
                cur.failed = Some(stamps);
            }
        }
        cur.acceptor.clone()
    }
}

/// Client certificates as `client_auth_type` says, then `client_allowed_sans`.
#[derive(Debug)]
struct ClientPolicy {
    /// The chain check (the verifying types); none: any certificate.
    inner: Option<Arc<dyn ClientCertVerifier>>,
    mandatory: bool,
    allowed_sans: Option<Vec<String>>,
    algs: WebPkiSupportedAlgorithms,
    hints: Vec<DistinguishedName>,
}

/// The certificate's SANs (DNS, e-mail, IP, URI) as Go's x509 spells them.
fn sans(cert: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, c)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Vec::new();
    };
    let Ok(Some(ext)) = c.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                Some((*s).to_owned())
            }
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

impl ClientCertVerifier for ClientPolicy {
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
        if let Some(inner) = &self.inner {
            inner.verify_client_cert(end_entity, intermediates, now)?;
        }
        if let Some(allowed) = &self.allowed_sans {
            let have = sans(end_entity);
            if !have.iter().any(|s| allowed.contains(s)) {
                tracing::debug!("client certificate refused: none of its SANs {have:?} is in client_allowed_sans");
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
