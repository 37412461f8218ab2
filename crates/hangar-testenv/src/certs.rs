//! Credentials for one control plane, generated fresh for every start.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// PEM material the clients need in memory; everything is also written to files
/// because kube-apiserver takes paths.
pub(crate) struct Credentials {
    pub ca_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
    pub files: CredentialFiles,
}

pub(crate) struct CredentialFiles {
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub sa_public_key: PathBuf,
    pub sa_signing_key: PathBuf,
}

/// One CA signs both the API server's serving certificate and the client
/// certificates it accepts, so a client needs a single trust root. The serving
/// certificate names `localhost`, 127.0.0.1 and `extra_names` (addresses or
/// DNS names), for clients that reach the API server another way.
pub(crate) fn generate(dir: &Path, extra_names: &[String]) -> Result<Credentials, String> {
    let err = |what: &str, e: rcgen::Error| format!("generating the {what}: {e}");

    let ca_key = KeyPair::generate().map_err(|e| err("CA key", e))?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hangar-testenv-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|e| err("CA certificate", e))?;
    let ca = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate().map_err(|e| err("serving key", e))?;
    let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    names.extend(extra_names.iter().cloned());
    let mut serving = CertificateParams::new(names).map_err(|e| err("serving certificate", e))?;
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving
        .signed_by(&serving_key, &ca)
        .map_err(|e| err("serving certificate", e))?;

    // O=system:masters is the group the API server lets past every authorizer.
    let admin_key = KeyPair::generate().map_err(|e| err("admin key", e))?;
    let mut admin = CertificateParams::default();
    admin
        .distinguished_name
        .push(DnType::CommonName, "hangar-testenv-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin
        .signed_by(&admin_key, &ca)
        .map_err(|e| err("admin client certificate", e))?;

    let sa_key = KeyPair::generate().map_err(|e| err("service-account signing key", e))?;

    let files = CredentialFiles {
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        sa_public_key: dir.join("sa.pub"),
        sa_signing_key: dir.join("sa.key"),
    };
    let write = |path: &Path, pem: &str| {
        std::fs::write(path, pem).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write(&files.ca_cert, &ca_cert.pem())?;
    write(&files.serving_cert, &serving_cert.pem())?;
    write(&files.serving_key, &serving_key.serialize_pem())?;
    write(&files.sa_public_key, &sa_key.public_key_pem())?;
    write(&files.sa_signing_key, &sa_key.serialize_pem())?;

    Ok(Credentials {
        ca_pem: ca_cert.pem(),
        admin_cert_pem: admin_cert.pem(),
        admin_key_pem: admin_key.serialize_pem(),
        files,
    })
}
