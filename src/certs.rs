//! Development certificates: a local CA and a server certificate signed by it, generated in
//! process with rcgen so that no `openssl` binary is needed.
//!
//! These are for local use and tests. Production listeners should use certificates from the
//! organisation's own CA or a public one.

use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// Names every development server certificate covers, besides those asked for.
pub const DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("{path} already exists; pass --force to replace it (servers and clients using the old CA will stop trusting the new certificate)")]
    Exists { path: PathBuf },
    #[error("{name:?} is not a DNS name or IP address; use letters, digits, '-' and '.', for example storebridge.internal")]
    InvalidName { name: String },
    #[error("cannot generate the certificate")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Paths of the files [`write_dev_certs`] creates.
#[derive(Clone, Debug)]
pub struct DevCertPaths {
    /// The CA certificate to give clients (`curl --cacert`, `NODE_EXTRA_CA_CERTS`).
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// How long development certificates are valid. A year keeps a forgotten development CA
/// from being trusted for decades.
const VALIDITY_DAYS: i64 = 365;

/// Checks that each extra name is an IP address or a DNS name (wildcards allowed).
pub fn check_names(names: &[String]) -> Result<(), CertsError> {
    for name in names {
        if name.parse::<std::net::IpAddr>().is_ok() {
            continue;
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        let body = name.strip_prefix("*.").unwrap_or(name);
        if name.len() > 253 || !body.split('.').all(label_ok) {
            return Err(CertsError::InvalidName { name: name.clone() });
        }
    }
    Ok(())
}

/// Fails if any file `write_dev_certs` would write already exists in `out_dir`.
pub fn reject_overwrite(out_dir: &Path) -> Result<(), CertsError> {
    for file in ["ca.crt", "server.crt", "server.key"] {
        let path = out_dir.join(file);
        if path.exists() {
            return Err(CertsError::Exists { path });
        }
    }
    Ok(())
}

fn set_validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    // A day of slack before now tolerates clients whose clocks run slightly behind.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(VALIDITY_DAYS);
}

/// Generated PEM text, before it is written anywhere.
pub struct DevCerts {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

/// Generates a CA and a server certificate for [`DEFAULT_NAMES`] plus `extra_names`. An
/// extra name that parses as an IP address becomes an IP SAN, anything else a DNS SAN.
pub fn generate_dev_certs(extra_names: &[String]) -> Result<DevCerts, CertsError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "storebridge development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut ca_params);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let mut names: Vec<String> = DEFAULT_NAMES
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    for name in extra_names {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let mut server_params = CertificateParams::new(names)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "storebridge development server");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    set_validity(&mut server_params);
    let server_key = KeyPair::generate()?;
    let server_cert = server_params.signed_by(&server_key, &ca_cert, &ca_key)?;

    Ok(DevCerts {
        ca_cert_pem: ca_cert.pem(),
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
    })
}

/// Generates development certificates and writes `ca.crt`, `server.crt` and `server.key`
/// into `out_dir`, creating it if needed. The key file is readable by its owner only.
pub fn write_dev_certs(out_dir: &Path, extra_names: &[String]) -> Result<DevCertPaths, CertsError> {
    let certs = generate_dev_certs(extra_names)?;
    std::fs::create_dir_all(out_dir).map_err(|source| CertsError::Write {
        path: out_dir.to_owned(),
        source,
    })?;
    let paths = DevCertPaths {
        ca_cert: out_dir.join("ca.crt"),
        server_cert: out_dir.join("server.crt"),
        server_key: out_dir.join("server.key"),
    };
    write_file(&paths.ca_cert, &certs.ca_cert_pem, false)?;
    write_file(&paths.server_cert, &certs.server_cert_pem, false)?;
    write_file(&paths.server_key, &certs.server_key_pem, true)?;
    Ok(paths)
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), CertsError> {
    let write_error = |source| CertsError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(write_error)?;
    io::Write::write_all(&mut file, contents.as_bytes()).map_err(write_error)
}
