"""certctl's chart alone (mybinder/charts/certctl), as `helm install certctl
mybinder/charts/certctl -n certctl` on any cluster would render it: with its defaults and with
every switch, validated against the Kubernetes 1.36 schemas, `helm lint --strict`, its schema
refusing bad values, packaged and rendered from the archive."""

import copy
import pathlib
import shutil
import tarfile

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
CHART = REPOSITORY / "mybinder" / "charts" / "certctl"
KUBERNETES_VERSION = "1.36"

EVERY_SWITCH = {
    "namespaces": ["web", "docs"],
    "issuersFromCluster": True,
    "http01EditInPlace": True,
    "gatewayAPI": True,
    "notifySecret": "certctl-notify",
    "prometheusRule": {"enabled": True},
    "issuers": {
        "email": "tls@example.net",
        "http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "web", "sectionName": "http"}]}},
        "extra": {"zerossl": {"acme": {"server": "https://acme.zerossl.com/v2/DV90", "privateKeySecretRef": {"name": "zerossl"}}}},
    },
}


def objects_of(manifests):
    objects = []
    for path, text in manifests.items():
        if not path.endswith("NOTES.txt"):
            objects += [document for document in yaml.safe_load_all(text) if document]
    return objects


def render(values=None, chart=None):
    chart = chart or helm.Chart.load(str(CHART))
    manifests = chart.render(values or {}, name="certctl", namespace="certctl", is_install=True)
    return objects_of(manifests), manifests


def find(objects, kind, name=None):
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def validate(objects):
    for document in objects:
        if document["kind"] == "PrometheusRule":  # the Prometheus operator's CRD, not in Kubernetes' schemas
            assert document["apiVersion"] == "monitoring.coreos.com/v1" and document["spec"]["groups"]
            continue
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_defaults_render_validate_and_lint_strictly():
    objects, manifests = render()
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("ConfigMap", "certctl-alert-rules"),
        ("ConfigMap", "certctl-dashboard"),
        ("ConfigMap", "certctl-issuers"),
        ("CronJob", "certctl"),
        ("Deployment", "certctl-exporter"),
        ("Pod", "certctl-check"),
        ("Role", "certctl"),
        ("Role", "certctl-exporter"),
        ("RoleBinding", "certctl"),
        ("RoleBinding", "certctl-exporter"),
        ("Service", "certctl-exporter"),
        ("ServiceAccount", "certctl"),
        ("ServiceAccount", "certctl-exporter"),
    ]
    assert all(o["metadata"]["namespace"] == "certctl" for o in objects)
    validate(objects)
    report = helm.lint(str(CHART), {}, strict=True, kube_version="v1.36.0")
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == [], report
    # Bundled issuers as they are in the repository; the default issuer is one of them.
    issuers = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    assert issuers == {p.name: p.read_text() for p in (REPOSITORY / "issuers").glob("*.yaml")}
    notes = manifests["certctl/templates/NOTES.txt"]
    assert "helm test certctl -n certctl" in notes and "kubectl -n certctl logs certctl-check" in notes
    assert "kubectl -n certctl create job --from=cronjob/certctl certctl-now" in notes


def test_every_switch_renders_valid_objects():
    objects, manifests = render(EVERY_SWITCH)
    validate(objects)
    report = helm.lint(str(CHART), EVERY_SWITCH, strict=True, kube_version="v1.36.0")
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == [], report
    assert sorted(r["metadata"]["namespace"] for r in find(objects, "Role", "certctl")) == ["docs", "web"]
    assert find(objects, "ClusterRole") and find(objects, "PrometheusRule", "certctl")
    assert not find(objects, "ConfigMap", "certctl-alert-rules")
    job = find(objects, "CronJob", "certctl")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    args = job["containers"][0]["args"]
    for flag in ["--issuers-from-cluster", "--namespace=web", "--namespace=docs", "--notify-config=/etc/certctl/notify/notify.yaml"]:
        assert flag in args
    issuers = {name: yaml.safe_load(text) for name, text in find(objects, "ConfigMap", "certctl-issuers")[0]["data"].items()}
    assert sorted(issuers) == ["letsencrypt-prod.yaml", "letsencrypt-staging.yaml", "pebble.yaml", "zerossl.yaml"]
    for name in ["letsencrypt-prod.yaml", "letsencrypt-staging.yaml", "pebble.yaml"]:
        acme = issuers[name]["spec"]["acme"]
        assert acme["email"] == "tls@example.net"
        assert acme["solvers"] == [{"http01": EVERY_SWITCH["issuers"]["http01"]}]
    assert issuers["zerossl.yaml"] == {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": "zerossl"},
        "spec": EVERY_SWITCH["issuers"]["extra"]["zerossl"],
    }
    assert "Ingresses, Gateways and ListenerSets in web, docs" in manifests["certctl/templates/NOTES.txt"]
    # Without the exporter: no Deployment, Service or its NOTES line.
    quiet, manifests = render({"exporter": {"enabled": False}})
    assert not find(quiet, "Deployment") and not find(quiet, "Service")
    assert "port-forward" not in manifests["certctl/templates/NOTES.txt"]


def test_an_issuer_of_your_own_replaces_a_bundled_one_of_its_name():
    own = {"acme": {"server": "https://acme.internal/directory", "privateKeySecretRef": {"name": "internal"}}}
    objects, _ = render({"issuers": {"extra": {"letsencrypt-prod": own}}})
    data = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    assert sorted(data) == ["letsencrypt-prod.yaml", "letsencrypt-staging.yaml", "pebble.yaml"]
    assert yaml.safe_load(data["letsencrypt-prod.yaml"])["spec"] == own


@pytest.mark.parametrize(
    "values, words",
    [
        ({"concurrency": "8"}, "concurrency"),
        ({"concurrency": 0}, "concurrency"),
        ({"schedule": "every day"}, "schedule"),
        ({"gatewayApi": True}, "gatewayApi"),
        ({"exporter": {"prot": 9102}}, "prot"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"namespaces": ["Prod"]}, "namespaces"),
        ({"issuers": {"email": "not an address"}}, "email"),
        ({"issuers": {"http01": {"ingress": {}, "gatewayHTTPRoute": {}}}}, "http01"),
        ({"issuers": {"extra": {"mine": {"server": "https://x"}}}}, "acme"),
    ],
)
def test_the_schema_refuses_a_wrong_value_naming_it(values, words):
    """As `helm install` does: refused before anything renders, the message naming the value."""
    with pytest.raises(helm.HelmValuesError) as refused:
        render(values)
    assert "don't meet the specifications of the schema" in str(refused.value)
    assert words in str(refused.value)


def test_the_test_hook_checks_as_the_job_runs():
    objects, _ = render(EVERY_SWITCH)
    [pod] = find(objects, "Pod", "certctl-check")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "certctl" and spec["restartPolicy"] == "Never"
    [container] = spec["containers"]
    job = find(objects, "CronJob", "certctl")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "check"
    # The same issuers, namespaces and HTTP-01 port as the job, so the probe goes where a run's
    # challenge goes; and the CronJob's schedule, checked against the certificates' lifetimes.
    shared = [a for a in job["args"] if a.startswith(("--issuers", "--default-issuer", "--namespace", "--http01-listen"))]
    cronjob = find(objects, "CronJob", "certctl")[0]
    assert sorted(container["args"][1:]) == sorted(shared + [f"--schedule={cronjob['spec']['schedule']}"])
    assert container["env"] == job["env"] and container["ports"] == job["ports"]
    assert container["securityContext"] == job["securityContext"]


def test_the_chart_has_no_file_outside_itself(tmp_path):
    """Packaged as a chart repository or an OCI registry would serve it, and copied alone: the
    same objects. Its copies of the repository's issuers and alert rules are equal to them."""
    for path in CHART.rglob("*"):
        assert not path.is_symlink(), path
    for name in ["letsencrypt-prod.yaml", "letsencrypt-staging.yaml", "pebble.yaml"]:
        assert (CHART / "files" / "issuers" / name).read_text() == (REPOSITORY / "issuers" / name).read_text()
    assert sorted(p.name for p in (CHART / "files" / "issuers").iterdir()) == sorted(p.name for p in (REPOSITORY / "issuers").glob("*.yaml"))
    assert (CHART / "files" / "certctl.rules.yml").read_text() == (REPOSITORY / "alerts" / "certctl.rules.yml").read_text()

    expected, _ = render(EVERY_SWITCH)
    archive = pathlib.Path(helm.package(str(CHART), destination=str(tmp_path)))
    assert archive.name == "certctl-0.1.0.tgz"
    with tarfile.open(archive) as packed:
        assert "certctl/values.schema.json" in packed.getnames()
    from_archive, _ = render(EVERY_SWITCH, chart=helm.Chart.load_archive(archive.read_bytes()))
    assert from_archive == expected
    alone = tmp_path / "alone" / "certctl"
    shutil.copytree(CHART, alone)
    copied, _ = render(EVERY_SWITCH, chart=helm.Chart.load(str(alone)))
    assert copied == expected


def test_the_meta_chart_renders_what_the_chart_renders_with_its_values():
    """mybinder configures certctl under `certctl:`; what it deploys of certctl is exactly the
    chart's rendering with those values."""
    meta_values = yaml.safe_load((REPOSITORY / "mybinder" / "values.yaml").read_text())
    for config in ["prod", "staging"]:
        overlay = yaml.safe_load((REPOSITORY / "mybinder" / "config" / f"{config}.yaml").read_text())
        chosen = copy.deepcopy(meta_values)
        for key, value in overlay.items():
            chosen[key] = {**chosen.get(key, {}), **value} if isinstance(value, dict) else value
        meta = helm.Chart.load(str(REPOSITORY / "mybinder")).render(chosen, name="certctl", namespace="certctl", is_install=True)
        from_meta = objects_of({p: t for p, t in meta.items() if p.startswith("mybinder/charts/certctl/")})
        certctl_values = {k: v for k, v in chosen["certctl"].items() if k != "enabled"}
        alone, _ = render(certctl_values)
        assert from_meta == alone, config
        args = find(alone, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--default-issuer={overlay['certctl']['defaultIssuer']}" in args
