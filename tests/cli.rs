//! The command line as users script against it: check-config and certs dev.

use std::process::Command;

fn storebridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_storebridge"))
}

#[test]
fn certs_dev_then_check_config() {
    let folder = tempfile::tempdir().expect("folder");
    let certs = folder.path().join("certs");
    let output = storebridge()
        .args(["certs", "dev", "--out"])
        .arg(&certs)
        .args(["--name", "storebridge.internal"])
        .output()
        .expect("run certs dev");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for file in ["ca.crt", "server.crt", "server.key"] {
        assert!(certs.join(file).is_file(), "{file} written");
    }

    let config = folder.path().join("storebridge.toml");
    std::fs::write(
        &config,
        "[[listener]]\nbind = \"0.0.0.0:8443\"\n[listener.tls]\ncert = \"certs/server.crt\"\nkey = \"certs/server.key\"\n\
         [upstream]\n[[store]]\nlegacy = 1\nconnect = 2\n",
    )
    .expect("write config");
    let output = storebridge()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid"));
}

#[test]
fn check_config_names_bad_key() {
    let folder = tempfile::tempdir().expect("folder");
    let config = folder.path().join("bad.toml");
    std::fs::write(
        &config,
        "[[listener]]\nbind = \"127.0.0.1:8443\"\n[upstream]\n[[store]]\nlegacy = 5\nconnect = 5\n",
    )
    .expect("write");
    let output = storebridge()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`store`"), "{stderr}");
    assert!(
        stderr.contains("both a legacy and a connect ID"),
        "{stderr}"
    );
}

#[test]
fn check_config_reports_missing_certificate() {
    let folder = tempfile::tempdir().expect("folder");
    let config = folder.path().join("storebridge.toml");
    std::fs::write(
        &config,
        "[[listener]]\nbind = \"127.0.0.1:8443\"\n[listener.tls]\ncert = \"missing.crt\"\nkey = \"missing.key\"\n[upstream]\n",
    )
    .expect("write");
    let output = storebridge()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.crt"), "{stderr}");
}

#[test]
fn example_config_is_valid_apart_from_certificates() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("storebridge.example.toml");
    let text = std::fs::read_to_string(&example).expect("example config");
    let config = storebridge::config::Config::parse(&text, &example, std::path::Path::new("."));
    assert!(config.is_ok(), "{:?}", config.err());
}

#[test]
fn certs_dev_keeps_existing_files() {
    let folder = tempfile::tempdir().expect("folder");
    let run = |extra: &[&str]| {
        storebridge()
            .args(["certs", "dev", "--out"])
            .arg(folder.path())
            .args(extra)
            .output()
            .expect("run certs dev")
    };
    assert!(run(&[]).status.success());
    let first_ca = std::fs::read(folder.path().join("ca.crt")).expect("ca");

    let again = run(&[]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(
        std::fs::read(folder.path().join("ca.crt")).expect("ca"),
        first_ca,
        "unchanged"
    );

    assert!(run(&["--force"]).status.success());
    assert_ne!(
        std::fs::read(folder.path().join("ca.crt")).expect("ca"),
        first_ca,
        "replaced"
    );
}

#[test]
fn certs_dev_rejects_invalid_name() {
    let folder = tempfile::tempdir().expect("folder");
    let output = storebridge()
        .args(["certs", "dev", "--out"])
        .arg(folder.path())
        .args(["--name", "bad name!"])
        .output()
        .expect("run certs dev");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad name!"), "{stderr}");
    assert!(!folder.path().join("ca.crt").exists(), "nothing written");
}
