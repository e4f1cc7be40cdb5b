//! rivven-schema behind a TLS-terminating, Basic-auth-checking reverse proxy
//! (tests/fixtures/registry_proxy.py), with a private CA and a server certificate for
//! 127.0.0.1 made by openssl at test time: a registry as ksqlDB's
//! `ksql.schema.registry.basic.auth.user.info` and trust store settings meet it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::{free_port, wait_until_listening};
use super::registry::{python, Registry};

pub struct SecureRegistry {
    /// Kept for its lifetime: the proxy forwards to it.
    _registry: Registry,
    proxy: Child,
    pub port: u16,
    pub user_info: String,
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs: scripts/test installs it");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed CA: `{name}.pem` and `{name}.key` in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

impl SecureRegistry {
    /// The registry, reachable only over TLS at [`SecureRegistry::url`] with `user_info`.
    pub fn start(user_info: &str) -> SecureRegistry {
        let dir = tempfile::tempdir().unwrap();
        make_ca(dir.path(), "ca");
        // A CA that did not sign the server's certificate, for the refused handshakes.
        make_ca(dir.path(), "other-ca");
        // rustls wants the address in the subject alternative names and an end-entity
        // certificate (not a CA) for a server.
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir.path(),
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        openssl(
            dir.path(),
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "1",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        let registry = Registry::start();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry_proxy.py");
        let mut proxy = Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .arg(registry.url())
            .arg(dir.path().join("server.pem"))
            .arg(dir.path().join("server.key"))
            .arg(user_info)
            .stdout(Stdio::null())
            // Refused handshakes print tracebacks; the tests read the engine's errors.
            .stderr(std::fs::File::create(dir.path().join("proxy.log")).unwrap())
            .spawn()
            .expect("the avro venv's python runs the proxy");
        wait_until_listening(
            &mut proxy,
            port,
            "registry_proxy.py",
            Duration::from_secs(30),
        );
        SecureRegistry {
            _registry: registry,
            proxy,
            port,
            user_info: user_info.to_string(),
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The PEM of the CA that signed the proxy's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The PEM of a CA that did not.
    pub fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }

    /// What tests/clients/avro_client.py needs to reach the registry.
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AVRO_CLIENT_USER_INFO", self.user_info.clone()),
            ("AVRO_CLIENT_CA", self.ca().display().to_string()),
        ]
    }
}

impl Drop for SecureRegistry {
    fn drop(&mut self) {
        let _ = self.proxy.kill();
        let _ = self.proxy.wait();
    }
}
