//! The Kubernetes manifests (`deploy/kubernetes`, docs/kubernetes.md), checked offline by
//! `scripts/check-kubernetes` in the venv `scripts/tools.sh install kubernetes` makes, with
//! promtool: yamllint, kubernetes-validate (strict) on the base and the rendered overlays, the
//! PrometheusRule equal to the Prometheus rules and passing `promtool check rules`, and the
//! invariants a reader relies on (probes, limits, a numeric non-root user, a read-only root file
//! system, no secret inline, workers ≤ partitions…). The checker itself is checked too: on copies
//! of the files broken on purpose it fails, naming each break; and without kubectl on `PATH` it
//! still renders the overlays structurally.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TempDir, Tool, kubernetes_venv, repo_root, requires};

/// `scripts/check-kubernetes --root ROOT ARGS` in the venv; whether it passed, and its stdout
/// and stderr together.
fn check_kubernetes(root: &Path, args: &[&str], path: Option<&Path>) -> (bool, String) {
    let mut command = Command::new(kubernetes_venv().join("bin/python"));
    command
        .arg(repo_root().join("scripts/check-kubernetes"))
        .arg("--root")
        .arg(root)
        .args(args);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A copy of what the checker reads (`deploy/kubernetes`, the Prometheus rules) under `dir`.
fn copy_of_the_manifests(dir: &TempDir) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let root = dir.path().join("repo");
    copy(
        &repo_root().join("deploy/kubernetes"),
        &root.join("deploy/kubernetes"),
    );
    copy(
        &repo_root().join("deploy/prometheus/rules"),
        &root.join("deploy/prometheus/rules"),
    );
    root
}

/// Replaces the first `from` in `file` (under `root`) with `to`; `from` must be there, so that
/// a change to the manifests cannot leave a break unapplied.
fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} no longer holds {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

const WORKER: &str = "deploy/kubernetes/base/worker-deployment.yaml";
const VIEW: &str = "deploy/kubernetes/base/view-deployment.yaml";
const EXAMPLE: &str = "deploy/kubernetes/overlays/example";

#[test]
fn shipped_manifests_pass_every_check() {
    requires!(Tool::Kubernetes);
    requires!(Tool::Prometheus);
    let (passed, out) = check_kubernetes(&repo_root(), &[], None);
    assert!(passed, "{out}");
    for line in [
        "checked: yamllint: ",
        "checked: promtool check rules: the PrometheusRule's 3 groups",
        "checked: base: 12 resources, 10 validated (kubernetes-validate 1.37.0, strict)",
        "checked: deploy/kubernetes/overlays/example: 12 resources rendered structurally, 10 validated",
        "check-kubernetes: every check passed",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    // Rendered by kubectl or kustomize where one is on PATH, and said so where neither is.
    let renderer = ["kubectl", "kustomize"]
        .into_iter()
        .find(|c| common::on_path(c).is_some());
    match renderer {
        Some(tool) => assert!(
            out.contains(&format!("resources rendered by {tool}, 10 validated")),
            "{out}"
        ),
        None => assert!(out.contains("kubectl and kustomize not on PATH"), "{out}"),
    }
}

#[test]
fn without_kubectl_the_overlays_are_rendered_structurally() {
    requires!(Tool::Kubernetes);
    requires!(Tool::Prometheus);
    // PATH holds promtool only.
    let dir = TempDir::new("k8s-no-kubectl");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(common::tool("promtool"), bin.join("promtool")).unwrap();
    let (passed, out) = check_kubernetes(&repo_root(), &[], Some(&bin));
    assert!(passed, "{out}");
    assert!(
        out.contains(&format!(
            "checked: {EXAMPLE}: kubectl and kustomize not on PATH, rendered structurally only"
        )),
        "{out}"
    );
    // The structural render still catches what only the overlay breaks.
    let root = copy_of_the_manifests(&dir);
    edit(
        &root,
        &format!("{EXAMPLE}/kustomization.yaml"),
        "count: 3",
        "count: 7",
    );
    let (passed, out) = check_kubernetes(&root, &[], Some(&bin));
    assert!(!passed, "{out}");
    assert!(
        out.contains("replicas 7 > 6 partitions: the extra workers would read nothing"),
        "{out}"
    );
}

#[test]
fn the_prometheus_rule_is_generated_from_the_prometheus_rules() {
    requires!(Tool::Kubernetes);
    requires!(Tool::Prometheus);
    let dir = TempDir::new("k8s-rules");
    let root = copy_of_the_manifests(&dir);
    // A clean copy passes: what fails below is what was broken.
    let (passed, out) = check_kubernetes(&root, &[], None);
    assert!(passed, "{out}");
    // A rule changed in the Prometheus rules but not in the PrometheusRule.
    let rules = "deploy/prometheus/rules/modeshare.yml";
    let target = "expr: max by (group) (modeshare_goal_target_ratio)";
    edit(
        &root,
        rules,
        target,
        "expr: min by (group) (modeshare_goal_target_ratio)",
    );
    let (passed, out) = check_kubernetes(&root, &[], None);
    assert!(!passed, "{out}");
    assert!(
        out.contains("spec.groups differ from deploy/prometheus/rules/modeshare.yml (groups modeshare.shares): run scripts/check-kubernetes --write-rules"),
        "{out}"
    );
    // Written again, it is current; then a broken expression reaches promtool through it.
    let (written, out) = check_kubernetes(&root, &["--write-rules"], None);
    assert!(written, "{out}");
    let (passed, out) = check_kubernetes(&root, &[], None);
    assert!(passed, "{out}");
    edit(
        &root,
        rules,
        "expr: min by (group) (modeshare_goal_target_ratio)",
        "expr: min by (group) (modeshare_goal_target_ratio",
    );
    check_kubernetes(&root, &["--write-rules"], None);
    let (passed, out) = check_kubernetes(&root, &[], None);
    assert!(!passed, "{out}");
    assert!(out.contains("promtool check rules fails"), "{out}");
    // A hand edit of the generated file that keeps the groups is refused as well.
    check_kubernetes(&root, &["--write-rules"], None);
    edit(
        &root,
        "deploy/kubernetes/base/prometheusrule.yaml",
        "  name: modeshare\n",
        "  name: modeshare # edited by hand\n",
    );
    let (passed, out) = check_kubernetes(&root, &[], None);
    assert!(!passed, "{out}");
    assert!(
        out.contains("not as generated: run scripts/check-kubernetes --write-rules"),
        "{out}"
    );
}

/// Each break of a copy, and the problem the checker must name for it. They touch different
/// things, so one run names them all (the checker lists every problem before failing).
#[test]
fn every_break_of_a_copy_is_named() {
    requires!(Tool::Kubernetes);
    requires!(Tool::Prometheus);
    let dir = TempDir::new("k8s-broken");
    let root = copy_of_the_manifests(&dir);
    let toml = &format!("{EXAMPLE}/modeshare.toml");
    let breaks: &[(&str, &str, &str, &str)] = &[
        (
            WORKER,
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "container modeshare: securityContext.readOnlyRootFilesystem must be true",
        ),
        (
            VIEW,
            "path: /livez",
            "path: /healthz",
            "Deployment modeshare-view container modeshare: livenessProbe must be an httpGet of /livez",
        ),
        (
            VIEW,
            "            runAsUser: 10001\n            runAsGroup: 10001\n            capabilities",
            "            runAsUser: 0\n            runAsGroup: 10001\n            capabilities",
            "runAsUser must be a numeric non-root user (the image's 10001), not 0",
        ),
        (
            VIEW,
            "              cpu: \"1\"\n              memory: 1Gi",
            "              cpu: \"1\"",
            "Deployment modeshare-view container modeshare: resources.limits.memory missing",
        ),
        (
            VIEW,
            "              drop: [\"ALL\"]",
            "              drop: [\"NET_RAW\"]",
            "Deployment modeshare-view container modeshare: securityContext.capabilities.drop must hold ALL",
        ),
        (
            WORKER,
            "            - name: AWS_SECRET_ACCESS_KEY\n              valueFrom:\n                secretKeyRef:\n                  name: modeshare-s3\n                  key: AWS_SECRET_ACCESS_KEY",
            "            - name: AWS_SECRET_ACCESS_KEY\n              value: not-a-real-key",
            "AWS_SECRET_ACCESS_KEY is written inline: take it from a Secret (secretKeyRef)",
        ),
        (
            WORKER,
            "value: /run/secrets/modeshare/admin/token-sha256",
            "value: /etc/modeshare/token-sha256",
            "MODESHARE__ADMIN__TOKEN_SHA256_FILE=/etc/modeshare/token-sha256 is not in a mounted Secret",
        ),
        (
            WORKER,
            "timeoutSeconds: 5",
            "timeoutSecond: 5",
            "('timeoutSecond' was unexpected)",
        ),
        (
            "deploy/kubernetes/base/networkpolicies.yaml",
            "        - port: admin",
            "        - port: metrics",
            "NetworkPolicy modeshare-worker: port metrics is not a port of the pods it selects",
        ),
        (
            "deploy/kubernetes/base/servicemonitor.yaml",
            "jobLabel: app.kubernetes.io/name",
            "jobLabel: app.kubernetes.io/component",
            "scrapes Service modeshare-worker as job 'worker': the rules expect job \"modeshare\"",
        ),
        (
            "deploy/kubernetes/base/view-service.yaml",
            "  name: modeshare-view\n",
            "  name: modeshare-view\n  labels: {}\n",
            "(key-duplicates)",
        ),
        (
            toml,
            "\"sasl.username\" = \"modeshare-baerum\"\n",
            "\"sasl.username\" = \"modeshare-baerum\"\n\"sasl.password\" = \"not-a-real-password\"\n",
            "kafka.options.sasl.password holds a secret inline: use kafka.options.sasl.password_file and a Secret",
        ),
        (
            toml,
            "listen = \"0.0.0.0:9464\"",
            "listen = \"127.0.0.1:9464\"",
            "http listens on '127.0.0.1:9464': in a pod it must be 0.0.0.0",
        ),
        (
            toml,
            "[privacy]",
            "[run]\nshutdown_timeout = \"40s\"\n\n[privacy]",
            "run.shutdown_timeout must end inside terminationGracePeriodSeconds (30 s)",
        ),
        (
            &format!("{EXAMPLE}/kustomization.yaml"),
            "    count: 3",
            "    count: 7",
            "replicas 7 > 6 partitions: the extra workers would read nothing",
        ),
    ];
    for (file, from, to, _) in breaks {
        edit(&root, file, from, to);
    }
    // The view given the Kafka password: it faces the internet and needs only the store's keys.
    edit(
        &root,
        VIEW,
        "          livenessProbe:",
        "            - name: KAFKA_PASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: modeshare-kafka\n                  key: sasl-password\n          livenessProbe:",
    );
    // A Secret committed beside the base.
    edit(
        &root,
        "deploy/kubernetes/base/kustomization.yaml",
        "  - prometheusrule.yaml\n",
        "  - prometheusrule.yaml\n  - secret.yaml\n",
    );
    std::fs::write(
        root.join("deploy/kubernetes/base/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: modeshare-s3\nstringData:\n  AWS_SECRET_ACCESS_KEY: not-a-real-key\n",
    )
    .unwrap();
    let (passed, out) = check_kubernetes(&root, &[], None);
    assert!(!passed, "{out}");
    let mut expected: Vec<&str> = breaks.iter().map(|b| b.3).collect();
    expected.extend([
        "the view holds Secrets ['modeshare-kafka']: only modeshare-s3",
        "base Secret modeshare-s3: is committed",
    ]);
    let missing: Vec<&&str> = expected.iter().filter(|e| !out.contains(**e)).collect();
    assert!(missing.is_empty(), "not named: {missing:#?}\nin:\n{out}");
}

#[test]
fn an_overlay_that_names_what_its_base_lacks_fails() {
    requires!(Tool::Kubernetes);
    requires!(Tool::Prometheus);
    let dir = TempDir::new("k8s-overlay");
    let root = copy_of_the_manifests(&dir);
    edit(
        &root,
        &format!("{EXAMPLE}/worker-patch.yaml"),
        "name: modeshare-worker",
        "name: modeshare-workers",
    );
    edit(
        &root,
        &format!("{EXAMPLE}/kustomization.yaml"),
        "  - name: modeshare-view\n    count: 2",
        "  - name: modeshare-viewer\n    count: 2",
    );
    edit(
        &root,
        &format!("{EXAMPLE}/kustomization.yaml"),
        "  - path: servicemonitor-patch.yaml",
        "  - path: servicemonitor-patch.yml",
    );
    edit(
        &root,
        &format!("{EXAMPLE}/kustomization.yaml"),
        "  - name: modeshare\n    newName",
        "  - name: modeshare-image\n    newName",
    );
    let (passed, out) = check_kubernetes(&root, &[], None);
    assert!(!passed, "{out}");
    for problem in [
        "patch worker-patch.yaml: targets Deployment modeshare-workers, which its base does not have",
        "replicas: no Deployment modeshare-viewer in its base",
        "patches: servicemonitor-patch.yml does not exist",
        "images: modeshare-image is the image of no container in its base",
    ] {
        assert!(out.contains(problem), "{problem:?} not named in:\n{out}");
    }
}
