//! Checks the deployment files under deploy/. The Kubernetes manifests must parse and keep
//! the probes, mounts and security settings storebridge needs. Every config, as a file and
//! as the copy inside a manifest, must pass `storebridge check-config` with development
//! certificates in place. The systemd unit must pass `systemd-analyze verify` where that
//! tool is installed, and the Dockerfile must keep the entry point and ports the other files
//! rely on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use storebridge::config::Config;
use yaml_rust2::{Yaml, YamlLoader};

/// Admin paths that respond without a bearer token. Probes must use these, because a token
/// in a probe header would sit in the manifest in clear text.
const OPEN_ADMIN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// The key that contains storebridge's config inside a Secret or ConfigMap.
const CONFIG_KEY: &str = "storebridge.toml";

const KNOWN_KINDS: [&str; 3] = ["ConfigMap", "Deployment", "Secret"];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn storebridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_storebridge"))
}

/// Lists files under `dir`, at any depth, whose names end with one of `extensions`.
fn files_with_extensions(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", folder.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .and_then(|ext| ext.to_str())
                .is_some_and(|ext| extensions.contains(&ext))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// One parsed YAML file: every document in it.
struct Manifest {
    path: PathBuf,
    documents: Vec<Yaml>,
}

impl Manifest {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Finds the document of `kind` named `name`.
    fn find(&self, kind: &str, name: &str) -> Option<&Yaml> {
        self.documents.iter().find(|doc| {
            doc["kind"].as_str() == Some(kind) && doc["metadata"]["name"].as_str() == Some(name)
        })
    }

    /// Pod templates of the workloads in this file.
    fn pod_specs(&self) -> Vec<&Yaml> {
        self.documents
            .iter()
            .filter(|doc| doc["kind"].as_str() == Some("Deployment"))
            .map(|doc| &doc["spec"]["template"]["spec"])
            .collect()
    }

    /// Returns the config text embedded in a Secret's `stringData` or a ConfigMap's `data`.
    fn embedded_config(&self) -> Option<&str> {
        self.documents.iter().find_map(|doc| {
            let field = match doc["kind"].as_str() {
                Some("Secret") => "stringData",
                Some("ConfigMap") => "data",
                _ => return None,
            };
            doc[field][CONFIG_KEY].as_str()
        })
    }
}

fn manifests() -> Vec<Manifest> {
    let paths = files_with_extensions(&deploy_dir(), &["yaml", "yml"]);
    assert!(!paths.is_empty(), "no YAML files under deploy/");
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read YAML file");
            let documents = YamlLoader::load_from_str(&text)
                .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()));
            Manifest { path, documents }
        })
        .collect()
}

fn items(node: &Yaml) -> &[Yaml] {
    node.as_vec().map(Vec::as_slice).unwrap_or(&[])
}

/// Lists init containers first, then regular containers, in the order the kubelet starts them.
fn all_containers(pod: &Yaml) -> Vec<&Yaml> {
    items(&pod["initContainers"])
        .iter()
        .chain(items(&pod["containers"]))
        .collect()
}

/// Checks whether `container` runs the storebridge image, whatever registry and tag it names.
fn is_storebridge(container: &Yaml) -> bool {
    let image = container["image"].as_str().unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or_default();
    last.split([':', '@']).next() == Some("storebridge")
}

fn storebridge_containers(pod: &Yaml) -> Vec<&Yaml> {
    all_containers(pod)
        .into_iter()
        .filter(|container| is_storebridge(container))
        .collect()
}

fn parse_config(text: &str, origin: &str) -> Config {
    Config::parse(text, Path::new(origin), Path::new("/etc/storebridge"))
        .unwrap_or_else(|error| panic!("{origin}: invalid config: {error}"))
}

fn embedded_config(manifest: &Manifest) -> Config {
    let text = manifest.embedded_config().unwrap_or_else(|| {
        panic!(
            "{}: no Secret or ConfigMap holds {CONFIG_KEY}",
            manifest.name()
        )
    });
    parse_config(text, &manifest.name())
}

/// Collects the paths a config names relative to its own folder: TLS files and the upstream
/// CA bundle.
fn relative_file_paths(text: &str) -> BTreeSet<String> {
    let value: toml::Value = toml::from_str(text).expect("config is TOML");
    let mut paths = BTreeSet::new();
    let listeners = value.get("listener").and_then(toml::Value::as_array);
    for listener in listeners.into_iter().flatten() {
        if let Some(tls) = listener.get("tls") {
            for key in ["cert", "key"] {
                paths.insert(tls[key].as_str().expect("TLS path is a string").to_owned());
            }
        }
    }
    if let Some(ca) = value
        .get("upstream")
        .and_then(|upstream| upstream.get("ca_file"))
        .and_then(toml::Value::as_str)
    {
        paths.insert(ca.to_owned());
    }
    for path in &paths {
        assert!(
            Path::new(path).is_relative(),
            "{path} is absolute; deploy configs name files relative to the config folder so \
             that tests can place development certificates there"
        );
    }
    paths
}

/// Writes `text` as storebridge.toml in a temporary folder, puts development certificates
/// at every file path it names, and runs `storebridge check-config` on it.
fn assert_check_config_passes(text: &str, origin: &str) {
    let folder = tempfile::tempdir().expect("temporary folder");
    let certs = folder.path().join("dev-certs");
    let output = storebridge()
        .args(["certs", "dev", "--out"])
        .arg(&certs)
        .args(["--name", "ssapi.shipstation.com"])
        .output()
        .expect("run storebridge certs dev");
    assert!(
        output.status.success(),
        "certs dev failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    for path in relative_file_paths(text) {
        let source = if path.ends_with(".key") {
            "server.key"
        } else if path.ends_with("ca.crt") || path.ends_with(".pem") {
            "ca.crt"
        } else {
            "server.crt"
        };
        let target = folder.path().join(&path);
        std::fs::create_dir_all(target.parent().expect("file has a folder")).expect("mkdir");
        std::fs::copy(certs.join(source), &target).expect("copy development certificate");
    }

    let config = folder.path().join(CONFIG_KEY);
    std::fs::write(&config, text).expect("write config");
    let output = storebridge()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("run storebridge check-config");
    assert!(
        output.status.success(),
        "{origin}: check-config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn manifests_have_known_kinds() {
    for manifest in manifests() {
        assert!(
            !manifest.documents.is_empty(),
            "{}: no documents",
            manifest.name()
        );
        for (index, doc) in manifest.documents.iter().enumerate() {
            let location = format!("{} document {index}", manifest.name());
            assert!(
                doc["apiVersion"].as_str().is_some(),
                "{location}: missing apiVersion"
            );
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{location}: missing kind"));
            assert!(
                KNOWN_KINDS.contains(&kind),
                "{location}: unexpected kind {kind}"
            );
            assert!(
                doc["metadata"]["name"].as_str().is_some(),
                "{location}: missing metadata.name"
            );
        }
        assert_eq!(
            manifest.pod_specs().len(),
            1,
            "{}: expected one Deployment",
            manifest.name()
        );
    }
}

#[test]
fn deployment_selector_matches_labels() {
    for manifest in manifests() {
        for doc in manifest
            .documents
            .iter()
            .filter(|d| d["kind"].as_str() == Some("Deployment"))
        {
            let selector = doc["spec"]["selector"]["matchLabels"]
                .as_hash()
                .expect("matchLabels");
            let labels = doc["spec"]["template"]["metadata"]["labels"]
                .as_hash()
                .expect("labels");
            for (key, value) in selector {
                assert_eq!(
                    labels.get(key),
                    Some(value),
                    "{}: selector {key:?}",
                    manifest.name()
                );
            }
        }
    }
}

#[test]
fn probes_use_open_admin_paths() {
    for manifest in manifests() {
        let admin_port = embedded_config(&manifest)
            .admin
            .expect("embedded config has [admin]")
            .bind
            .port();
        for pod in manifest.pod_specs() {
            for container in storebridge_containers(pod) {
                for probe in ["livenessProbe", "readinessProbe"] {
                    assert!(
                        !container[probe].is_badvalue(),
                        "{}: storebridge has no {probe}",
                        manifest.name()
                    );
                }
            }
            for container in all_containers(pod) {
                let name = container["name"].as_str().unwrap_or("?");
                for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                    let get = &container[probe]["httpGet"];
                    if get.is_badvalue() || !is_storebridge(container) {
                        continue;
                    }
                    let location = format!("{}: {name}.{probe}", manifest.name());
                    let path = get["path"].as_str().unwrap_or_default();
                    assert!(
                        OPEN_ADMIN_PATHS.contains(&path),
                        "{location}: path {path:?} needs a token or does not exist"
                    );
                    let port = match &get["port"] {
                        Yaml::Integer(number) => *number,
                        Yaml::String(port_name) => items(&container["ports"])
                            .iter()
                            .find(|port| port["name"].as_str() == Some(port_name))
                            .and_then(|port| port["containerPort"].as_i64())
                            .unwrap_or_else(|| {
                                panic!("{location}: no container port named {port_name}")
                            }),
                        other => panic!("{location}: unexpected port {other:?}"),
                    };
                    assert_eq!(
                        port,
                        i64::from(admin_port),
                        "{location}: port is not the admin port"
                    );
                }
            }
        }
    }
}

#[test]
fn storebridge_runs_locked_down() {
    for manifest in manifests() {
        for pod in manifest.pod_specs() {
            let containers = storebridge_containers(pod);
            assert_eq!(
                containers.len(),
                1,
                "{}: expected one storebridge container",
                manifest.name()
            );
            let container = containers[0];
            let security = &container["securityContext"];
            let location = manifest.name();

            let non_root = security["runAsNonRoot"]
                .as_bool()
                .or(pod["securityContext"]["runAsNonRoot"].as_bool());
            assert_eq!(non_root, Some(true), "{location}: runAsNonRoot is not set");
            if let Some(user) = security["runAsUser"].as_i64() {
                assert_ne!(user, 0, "{location}: runAsUser is root");
            }
            assert_eq!(
                security["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{location}: allowPrivilegeEscalation"
            );
            assert_eq!(
                security["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{location}: readOnlyRootFilesystem"
            );
            let dropped: Vec<&str> = items(&security["capabilities"]["drop"])
                .iter()
                .filter_map(Yaml::as_str)
                .collect();
            assert_eq!(dropped, ["ALL"], "{location}: capabilities.drop");
            assert!(
                security["capabilities"]["add"].is_badvalue(),
                "{location}: capabilities.add"
            );

            let resources = &container["resources"];
            assert!(
                resources["requests"]["cpu"].as_str().is_some(),
                "{location}: no CPU request"
            );
            assert!(
                resources["requests"]["memory"].as_str().is_some(),
                "{location}: no memory request"
            );
            assert!(
                resources["limits"]["memory"].as_str().is_some(),
                "{location}: no memory limit"
            );

            // A native sidecar: an init container that keeps running.
            let in_init = items(&pod["initContainers"])
                .iter()
                .any(|c| std::ptr::eq(c, container));
            if in_init {
                assert_eq!(
                    container["restartPolicy"].as_str(),
                    Some("Always"),
                    "{location}: init container without restartPolicy: Always"
                );
            }
        }
    }
}

#[test]
fn grace_period_exceeds_drain_timeout() {
    for manifest in manifests() {
        let drain = embedded_config(&manifest).drain_timeout;
        for pod in manifest.pod_specs() {
            let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
            let grace = Duration::from_secs(u64::try_from(grace).expect("positive grace period"));
            assert!(
                grace > drain,
                "{}: grace period {grace:?} is not above drain_timeout {drain:?}",
                manifest.name()
            );
        }
    }
}

#[test]
fn mounts_provide_config_files() {
    for manifest in manifests() {
        let text = manifest.embedded_config().expect("embedded config");
        let mut needed = relative_file_paths(text);
        needed.insert(CONFIG_KEY.to_owned());
        for pod in manifest.pod_specs() {
            let container = storebridge_containers(pod)[0];
            let location = manifest.name();
            let args: Vec<&str> = items(&container["args"])
                .iter()
                .filter_map(Yaml::as_str)
                .collect();
            let position = args
                .iter()
                .position(|arg| *arg == "--config")
                .unwrap_or_else(|| panic!("{location}: no --config"));
            let config_path = Path::new(args[position + 1]);
            assert_eq!(
                config_path.file_name().and_then(|n| n.to_str()),
                Some(CONFIG_KEY),
                "{location}: config file name"
            );
            let folder = config_path
                .parent()
                .expect("config folder")
                .to_str()
                .expect("UTF-8");

            let mount = items(&container["volumeMounts"])
                .iter()
                .find(|mount| mount["mountPath"].as_str() == Some(folder))
                .unwrap_or_else(|| panic!("{location}: nothing is mounted location {folder}"));
            assert!(
                mount["subPath"].is_badvalue(),
                "{location}: subPath mounts miss Secret updates"
            );
            let volume_name = mount["name"].as_str().expect("mount name");
            let volume = items(&pod["volumes"])
                .iter()
                .find(|volume| volume["name"].as_str() == Some(volume_name))
                .unwrap_or_else(|| panic!("{location}: no volume {volume_name}"));

            // Each file the config needs must come from a Secret in this manifest that has the key.
            let sources: Vec<(&str, &[Yaml])> = if volume["projected"].is_badvalue() {
                vec![(
                    volume["secret"]["secretName"].as_str().expect("secretName"),
                    items(&volume["secret"]["items"]),
                )]
            } else {
                items(&volume["projected"]["sources"])
                    .iter()
                    .map(|source| {
                        (
                            source["secret"]["name"]
                                .as_str()
                                .expect("projected Secret name"),
                            items(&source["secret"]["items"]),
                        )
                    })
                    .collect()
            };
            let mut provided = BTreeSet::new();
            for (secret_name, entries) in sources {
                let secret = manifest.find("Secret", secret_name).unwrap_or_else(|| {
                    panic!("{location}: Secret {secret_name} is not in this file")
                });
                for entry in entries {
                    let key = entry["key"].as_str().expect("item key");
                    assert!(
                        !secret["stringData"][key].is_badvalue(),
                        "{location}: Secret {secret_name} has no key {key}"
                    );
                    provided.insert(entry["path"].as_str().expect("item path").to_owned());
                }
            }
            for path in &needed {
                assert!(
                    provided.contains(path),
                    "{location}: {folder}/{path} is not mounted"
                );
            }
        }
    }
}

#[test]
fn app_trusts_storebridge_ca() {
    for manifest in manifests() {
        for pod in manifest.pod_specs() {
            for container in all_containers(pod)
                .into_iter()
                .filter(|c| !is_storebridge(c))
            {
                let location = format!(
                    "{}: {}",
                    manifest.name(),
                    container["name"].as_str().unwrap_or("?")
                );
                let ca_file = items(&container["env"])
                    .iter()
                    .find(|env| env["name"].as_str() == Some("NODE_EXTRA_CA_CERTS"))
                    .and_then(|env| env["value"].as_str())
                    .unwrap_or_else(|| panic!("{location}: NODE_EXTRA_CA_CERTS is not set"));
                let mounted = items(&container["volumeMounts"])
                    .iter()
                    .filter_map(|mount| mount["mountPath"].as_str())
                    .any(|mount| Path::new(ca_file).starts_with(mount));
                assert!(
                    mounted,
                    "{location}: {ca_file} is not under any volume mount"
                );
            }
        }
    }
}

#[test]
fn hardcoded_host_pins_upstream() {
    let mut checked = 0;
    for manifest in manifests() {
        for pod in manifest.pod_specs() {
            let aliased = items(&pod["hostAliases"]).iter().any(|alias| {
                items(&alias["hostnames"])
                    .iter()
                    .any(|name| name.as_str() == Some("ssapi.shipstation.com"))
            });
            if !aliased {
                continue;
            }
            checked += 1;
            let location = manifest.name();
            let config = embedded_config(&manifest);
            let overrides =
                storebridge::upstream::ResolveOverrides::parse(&config.upstream.resolve)
                    .expect("resolve entries");
            let pinned = overrides
                .lookup("ssapi.shipstation.com", 443)
                .unwrap_or_else(|| panic!("{location}: ssapi.shipstation.com:443 is not pinned, so storebridge would call itself"));
            for address in pinned {
                assert!(
                    !address.is_loopback(),
                    "{location}: pinned to loopback {address}"
                );
            }

            assert!(
                config.listeners.iter().any(|l| l.bind.port() == 443),
                "{location}: no listener on port 443"
            );
            let unprivileged_from = items(&pod["securityContext"]["sysctls"])
                .iter()
                .find(|sysctl| {
                    sysctl["name"].as_str() == Some("net.ipv4.ip_unprivileged_port_start")
                })
                .and_then(|sysctl| sysctl["value"].as_str())
                .and_then(|value| value.parse::<u16>().ok());
            assert!(
                unprivileged_from.is_some_and(|port| port <= 443),
                "{location}: a non-root process cannot bind 443"
            );
        }
    }
    assert!(
        checked > 0,
        "no manifest maps ssapi.shipstation.com with hostAliases"
    );
}

#[test]
fn embedded_configs_match_config_files() {
    for manifest in manifests() {
        let stem = manifest
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("file stem");
        let file = deploy_dir().join("config").join(format!("{stem}.toml"));
        let expected = std::fs::read_to_string(&file).unwrap_or_else(|error| {
            panic!(
                "{}: cannot read {}: {error}",
                manifest.name(),
                file.display()
            )
        });
        assert_eq!(
            manifest.embedded_config(),
            Some(expected.as_str()),
            "{}: embedded config differs from {}",
            manifest.name(),
            file.display()
        );
    }
}

#[test]
fn embedded_configs_pass_check_config() {
    for manifest in manifests() {
        let text = manifest.embedded_config().expect("embedded config");
        assert_check_config_passes(text, &manifest.name());
    }
}

#[test]
fn config_files_pass_check_config() {
    let files = files_with_extensions(&deploy_dir().join("config"), &["toml"]);
    assert!(
        files.len() >= 3,
        "expected the sidecar, hard-coded host and gateway configs"
    );
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read config");
        assert_check_config_passes(&text, &file.display().to_string());
    }
}

fn unit_file() -> PathBuf {
    deploy_dir().join("systemd").join("storebridge.service")
}

/// Collects the values of `key=` lines in the unit file, in order.
fn unit_values(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    text.lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn systemd_unit_outlasts_drain() {
    let text = std::fs::read_to_string(unit_file()).expect("read unit");
    let stop = unit_values(&text, "TimeoutStopSec");
    assert_eq!(stop.len(), 1, "TimeoutStopSec set once");
    let stop = humantime::parse_duration(&stop[0]).expect("TimeoutStopSec is a duration");
    let gateway =
        std::fs::read_to_string(deploy_dir().join("config/gateway.toml")).expect("gateway config");
    let drain = parse_config(&gateway, "deploy/config/gateway.toml").drain_timeout;
    assert!(
        stop > drain,
        "TimeoutStopSec {stop:?} is not above drain_timeout {drain:?}"
    );

    let config_arg = "--config /etc/storebridge/storebridge.toml";
    for key in ["ExecStartPre", "ExecStart"] {
        let values = unit_values(&text, key);
        assert!(
            values.iter().all(|v| v.contains(config_arg)),
            "{key} does not read {config_arg}"
        );
    }
    assert_eq!(
        unit_values(&text, "ExecReload"),
        ["/bin/kill -HUP $MAINPID"]
    );
}

#[test]
fn systemd_unit_verifies() {
    let found = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        println!(
            "skipped: systemd-analyze is not installed, so storebridge.service was not verified"
        );
        return;
    }

    // verify checks that each Exec binary exists, so point them at the one cargo built.
    let text = std::fs::read_to_string(unit_file()).expect("read unit");
    let text = text.replace(
        "/usr/local/bin/storebridge",
        env!("CARGO_BIN_EXE_storebridge"),
    );
    let folder = tempfile::tempdir().expect("temporary folder");
    let unit = folder.path().join("storebridge.service");
    std::fs::write(&unit, text).expect("write unit");

    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "systemd-analyze verify failed: {stderr}"
    );
    // Unknown keys and bad values are warnings with exit status 0.
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze verify warned: {stderr}"
    );
}

/// Reads the Dockerfile's instructions, with continuation lines joined and comments dropped.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy_dir().join("Dockerfile")).expect("read Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                let (word, rest) = current.split_once(' ').unwrap_or((current.as_str(), ""));
                instructions.push((word.to_ascii_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    instructions
}

fn dockerfile_values<'a>(instructions: &'a [(String, String)], word: &str) -> Vec<&'a str> {
    instructions
        .iter()
        .filter(|(w, _)| w == word)
        .map(|(_, rest)| rest.as_str())
        .collect()
}

#[test]
fn dockerfile_matches_deploy_files() {
    let instructions = dockerfile_instructions();
    assert_eq!(
        dockerfile_values(&instructions, "ENTRYPOINT"),
        [r#"["storebridge"]"#]
    );
    assert_eq!(
        dockerfile_values(&instructions, "CMD"),
        [r#"["serve", "--config", "/etc/storebridge/storebridge.toml"]"#]
    );
    assert_eq!(
        dockerfile_values(&instructions, "FROM").len(),
        2,
        "a build stage and a runtime stage"
    );
    assert!(
        dockerfile_values(&instructions, "RUN")
            .iter()
            .any(|run| run.contains("cargo build --release --locked")),
        "no locked release build"
    );

    let user = dockerfile_values(&instructions, "USER");
    let user = user.last().expect("USER is set");
    assert!(!["root", "0", "0:0"].contains(user), "runs as root");

    let exposed: BTreeSet<u16> = dockerfile_values(&instructions, "EXPOSE")
        .iter()
        .flat_map(|ports| ports.split_whitespace())
        .map(|port| port.parse().expect("EXPOSE lists port numbers"))
        .collect();
    for name in ["gateway", "sidecar"] {
        let text = std::fs::read_to_string(deploy_dir().join(format!("config/{name}.toml")))
            .expect("config");
        let config = parse_config(&text, name);
        for listener in &config.listeners {
            assert!(
                exposed.contains(&listener.bind.port()),
                "{name}: port {} not exposed",
                listener.bind.port()
            );
        }
        let admin = config.admin.expect("admin").bind.port();
        assert!(
            exposed.contains(&admin),
            "{name}: admin port {admin} not exposed"
        );
    }
}

#[test]
fn dockerignore_keeps_build_inputs() {
    let ignore = std::fs::read_to_string(deploy_dir().join("Dockerfile.dockerignore"))
        .expect("read ignore file");
    let kept: Vec<&str> = ignore
        .lines()
        .filter_map(|line| line.strip_prefix('!'))
        .collect();
    let instructions = dockerfile_instructions();
    for copy in dockerfile_values(&instructions, "COPY") {
        if copy.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = copy
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        let (_, sources) = words.split_last().expect("COPY has a destination");
        for source in sources {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
            assert!(root.exists(), "COPY source {source} does not exist");
            assert!(
                kept.iter()
                    .any(|k| k.trim_end_matches('/') == source.trim_end_matches('/')),
                "COPY source {source} is excluded by Dockerfile.dockerignore"
            );
        }
    }
}
