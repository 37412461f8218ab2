//! How the `hangar` binary reads manifests, as a person meets it: every
//! broken file named with its path while the rest still render, YAML errors
//! with line and column, typos and unknown versions refused (kubectl's
//! `--validate`), one `-f/--filename` spelling, mounted ConfigMaps read once.

use std::path::Path;
use std::process::{Command, Output};

fn hangar(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(args)
        .current_dir(dir)
        .env_remove("HANGAR_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn server(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}}}\nspec: {spec}\n"
    )
}

/// The `metadata.name`s of the Deployments in `hangar render` output.
fn deployments(stdout: &str) -> Vec<String> {
    serde_saphyr::from_multiple::<serde_json::Value>(stdout)
        .unwrap()
        .into_iter()
        .filter(|o| o["kind"] == "Deployment")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_directory_with_broken_files_renders_the_rest_and_names_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path();
    std::fs::write(files.join("a.yaml"), server("a", "{image: x}")).unwrap();
    std::fs::write(
        files.join("b.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   bad: indent\n",
    )
    .unwrap();
    std::fs::write(
        files.join("c.yaml"),
        server("c", "{image: x, healthCheck: {timeoutt: 5s}}"),
    )
    .unwrap();
    std::fs::write(
        files.join("d.yaml"),
        server("d", "{image: x}").replace("v1alpha1", "v9"),
    )
    .unwrap();
    std::fs::write(files.join("e.yaml"), server("e", "{mode: container}")).unwrap();
    std::fs::write(files.join("f.yaml"), server("f", "{image: other}")).unwrap();

    let output = hangar(&["render", "-f", "."], files);
    assert!(!output.status.success(), "a problem is a non-zero exit");
    assert_eq!(deployments(&text(&output.stdout)), ["a", "f"]);
    let stderr = text(&output.stderr);
    for expected in [
        "4 manifest problems (everything else was rendered):",
        "./b.yaml:5:7: not valid YAML: mapping values are not allowed in this context",
        "5 |    bad: indent",
        "./c.yaml: MCPServer \"c\" has an unknown field: \"spec.healthCheck.timeoutt\"",
        "./d.yaml: MCPServer \"d\": apiVersion mcp-hangar.io/v9 is not served; Hangar serves mcp-hangar.io/v1alpha1",
        "./e.yaml: MCPServer \"e\" is invalid (the API server would refuse it):",
        "spec.image: Invalid value: spec.image is required when spec.mode is container",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
}

#[test]
fn validate_warn_reads_unknown_fields_with_a_warning_and_ignore_is_silent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.yaml");
    std::fs::write(&file, server("t", "{image: x, imagee: y}")).unwrap();
    let file = file.to_str().unwrap();

    let strict = hangar(&["render", "--filename", file], dir.path());
    assert!(!strict.status.success());
    assert!(
        text(&strict.stderr).contains("--validate=warn"),
        "{}",
        text(&strict.stderr)
    );

    let warn = hangar(&["render", "-f", file, "--validate=warn"], dir.path());
    assert!(warn.status.success(), "{}", text(&warn.stderr));
    assert_eq!(deployments(&text(&warn.stdout)), ["t"]);
    assert!(
        text(&warn.stderr).contains("Warning: ")
            && text(&warn.stderr).contains("unknown field \"spec.imagee\""),
        "{}",
        text(&warn.stderr)
    );

    let ignore = hangar(&["render", "-f", file, "--validate", "ignore"], dir.path());
    assert!(ignore.status.success());
    assert_eq!(text(&ignore.stderr), "");
}

#[test]
fn up_takes_the_same_filename_flag_and_refuses_bad_manifests_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        server(
            "s",
            "{mode: remote, endpoint: 'http://127.0.0.1:9/mcp', timeoutt: 5s}",
        ),
    )
    .unwrap();
    for flag in ["-f", "--filename", "--file"] {
        let output = hangar(
            &["up", flag, "s.yaml", "--listen", "127.0.0.1:0"],
            dir.path(),
        );
        assert!(!output.status.success());
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("s.yaml: MCPServer \"s\" has an unknown field: \"spec.timeoutt\""),
            "{flag}: {stderr}"
        );
    }
    let help = text(&hangar(&["up", "--help"], dir.path()).stdout);
    assert!(help.contains("-f, --filename <PATH>"), "{help}");
    assert!(help.contains("--validate <MODE>"), "{help}");
}

#[test]
fn a_missing_file_is_named_once_with_its_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["render", "up", "convert"] {
        let output = hangar(&[command, "-f", "missing.yaml"], dir.path());
        assert!(!output.status.success());
        let stderr = text(&output.stderr);
        assert_eq!(
            stderr.matches("No such file or directory").count(),
            1,
            "{command}: {stderr}"
        );
        assert!(stderr.contains("cannot read missing.yaml"), "{stderr}");
    }
}

#[test]
fn a_mounted_config_map_is_read_once_and_hidden_directories_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path();
    // What the kubelet lays out for a ConfigMap volume.
    let version = mount.join("..2026_12_01_00_00_00.000000001");
    std::fs::create_dir(&version).unwrap();
    std::fs::write(
        version.join("servers.yaml"),
        server("mounted", "{image: x}"),
    )
    .unwrap();
    std::os::unix::fs::symlink(version.file_name().unwrap(), mount.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/servers.yaml", mount.join("servers.yaml")).unwrap();
    std::fs::create_dir(mount.join(".hidden")).unwrap();
    std::fs::write(mount.join(".hidden/x.yaml"), "not: [valid").unwrap();
    std::os::unix::fs::symlink(".", mount.join("self")).unwrap();

    let output = hangar(&["render", "-f", "."], mount);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(deployments(&text(&output.stdout)), ["mounted"]);
}
