"""certctl's chart alone (mybinder/charts/certctl), as `helm install certctl
mybinder/charts/certctl -n certctl` on any cluster would render it: with its defaults and with
every switch, validated against the Kubernetes 1.36 schemas (and the Prometheus operator's
CRDs), `helm lint --strict`, its schema refusing bad values, packaged and rendered from the
archive. test_certctl_rbac.py tests its RBAC, test_certctl_values.py its other values."""

import copy
import pathlib
import shutil
import tarfile

import helm_python as helm
import pytest
import yaml

from chartlib import CHART, OPERATOR_API, REPOSITORY, find, lint_findings, name_problems, objects_of, render, validate

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


def render_all(values=None, chart=None):
    """EVERY_SWITCH asks for a PrometheusRule: rendered as for a cluster with the operator."""
    return render(values, chart=chart, api_versions=OPERATOR_API)


def without_operator(values):
    """helm lint has no cluster: the values without what needs the operator's CRDs."""
    return {k: v for k, v in values.items() if k not in ("prometheusRule", "prometheus")}


def test_defaults_render_validate_and_lint_strictly():
    objects, manifests = render()
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("ConfigMap", "certctl-alert-rules"),
        ("ConfigMap", "certctl-dashboard"),
        ("ConfigMap", "certctl-issuers"),
        ("CronJob", "certctl"),
        ("Deployment", "certctl-exporter"),
        ("Pod", "certctl-check"),
        # Its own namespace's (the Lease, accounts, run history), and the managed namespace's,
        # which is the release namespace by default.
        ("Role", "certctl"),
        ("Role", "certctl-exporter"),
        ("Role", "certctl.certctl"),
        ("Role", "certctl.certctl-exporter"),
        ("RoleBinding", "certctl"),
        ("RoleBinding", "certctl-exporter"),
        ("RoleBinding", "certctl.certctl"),
        ("RoleBinding", "certctl.certctl-exporter"),
        ("Service", "certctl-exporter"),
        ("ServiceAccount", "certctl"),
        ("ServiceAccount", "certctl-exporter"),
    ]
    assert all(o["metadata"]["namespace"] == "certctl" for o in objects)
    validate(objects)
    assert name_problems(objects) == []
    assert lint_findings(CHART, {}) == []
    # Bundled issuers as they are in the repository; the default issuer is one of them.
    issuers = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    assert issuers == {p.name: p.read_text() for p in (REPOSITORY / "issuers").glob("*.yaml")}
    notes = manifests["certctl/templates/NOTES.txt"]
    assert "helm test certctl -n certctl" in notes and "kubectl -n certctl logs certctl-check" in notes
    assert "kubectl -n certctl create job --from=cronjob/certctl certctl-now" in notes


def test_every_switch_renders_valid_objects():
    objects, manifests = render_all(EVERY_SWITCH)
    validate(objects)
    assert lint_findings(CHART, without_operator(EVERY_SWITCH)) == []
    assert sorted(r["metadata"]["namespace"] for r in find(objects, "Role", "certctl.certctl")) == ["docs", "web"]
    assert [r["metadata"]["namespace"] for r in find(objects, "Role", "certctl")] == ["certctl"]
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
    # Everything the chart can make, at once, strictly validated: both monitors cannot be on
    # together, so each is tried.
    for monitor in ["serviceMonitor", "podMonitor"]:
        objects, _ = render_all({**EVERY_SWITCH, "prometheus": {monitor: {"enabled": True, "labels": {"release": "kps"}}}})
        validate(objects)
        assert find(objects, monitor[0].upper() + monitor[1:])


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
        ({"image": {"tag": True}}, "tag"),
        ({"image": {"digest": "latest"}}, "digest"),
        ({"imagePullSecrets": ["regcred"]}, "imagePullSecrets"),
        ({"nodeSelector": {"pool": 1}}, "nodeSelector"),
        ({"podAnnotations": {"sidecar.istio.io/inject": False}}, "podAnnotations"),
        ({"extraEnv": [{"value": "http://proxy:3128"}]}, "name"),
        ({"extraArgs": "--key-type=rsa-2048"}, "extraArgs"),
        ({"timeZone": "Berlin time"}, "timeZone"),
        ({"timeZone": "Local"}, "timeZone"),  # the API server: "must be an explicit time zone"
        ({"timeZone": "local"}, "timeZone"),
        ({"ttlSecondsAfterFinished": -1}, "ttlSecondsAfterFinished"),
        ({"suspend": "yes"}, "suspend"),
        ({"fullnameOverride": "TLS_keeper"}, "fullnameOverride"),
        ({"fullnameOverride": "a" * 53}, "fullnameOverride"),
        ({"serviceAccount": {"nme": "tls"}}, "nme"),
        ({"rbac": {"create": "false"}}, "create"),
        ({"commonLabels": {"tier": 1}}, "commonLabels"),
        ({"prometheus": {"serviceMonitor": {"intervl": "1m"}}}, "intervl"),
        ({"prometheus": {"podMonitor": {"interval": "a minute"}}}, "interval"),
        ({"prometheusRule": {"labels": {"release": True}}}, "release"),
        ({"dashboard": {"namespace": "Monitoring"}}, "namespace"),
    ],
)
def test_the_schema_refuses_a_wrong_value_naming_it(values, words):
    """As `helm install` does: refused before anything renders, the message naming the value."""
    with pytest.raises(helm.HelmValuesError) as refused:
        render(values)
    assert "don't meet the specifications of the schema" in str(refused.value)
    assert words in str(refused.value)


def test_the_test_hook_checks_as_the_job_runs():
    objects, _ = render_all(EVERY_SWITCH)
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

    expected, _ = render_all(EVERY_SWITCH)
    archive = pathlib.Path(helm.package(str(CHART), destination=str(tmp_path)))
    assert archive.name == "certctl-0.2.0.tgz"
    with tarfile.open(archive) as packed:
        assert "certctl/values.schema.json" in packed.getnames()
    from_archive, _ = render_all(EVERY_SWITCH, chart=helm.Chart.load_archive(archive.read_bytes()))
    assert from_archive == expected
    alone = tmp_path / "alone" / "certctl"
    shutil.copytree(CHART, alone)
    copied, _ = render_all(EVERY_SWITCH, chart=helm.Chart.load(str(alone)))
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


def schema_leaves(schema, prefix=""):
    """Every value's path in values.schema.json (an object of values is walked into; one value
    that is an object in another's schema, issuers.http01 a cert-manager solver, is not)."""
    leaves = []
    for key, spec in schema.get("properties", {}).items():
        if "properties" in spec and "maxProperties" not in spec:
            leaves += schema_leaves(spec, f"{prefix}{key}.")
        else:
            leaves.append(prefix + key)
    return leaves


def test_the_readme_lists_every_value_and_its_install_works():
    import json
    import re
    import shlex

    schema = json.loads((CHART / "values.schema.json").read_text())
    readme = (CHART / "README.md").read_text()
    table = readme[readme.index("## Values"):readme.index("## What it creates")]
    listed = set(re.findall(r"`([A-Za-z0-9_.]+)`", "\n".join(l.split("|")[1] for l in table.splitlines() if l.startswith("| `"))))
    leaves = schema_leaves(schema)
    assert len(leaves) > 60
    assert sorted(set(leaves) - listed) == [], "values missing from the README's table"
    assert sorted(listed - set(leaves)) == [], "the README lists values the chart does not have"
    # values.yaml has every value of the schema but the parent chart's two.
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert sorted(set(schema["properties"]) - set(defaults)) == ["enabled", "global"]
    # The install the README shows renders, as `helm install` would with those --set.
    command = readme[readme.index("helm install"):].split("\n")
    words = shlex.split(command[0].rstrip("\\") + " " + command[1])
    assert words[:4] == ["helm", "install", "certctl", "mybinder/charts/certctl"] and words[4:7] == ["-n", "certctl", "--create-namespace"]
    values = {}
    for index, word in enumerate(words):
        if word == "--set":
            values = merge(values, helm.parse_set_string(words[index + 1]))
    assert values == {"namespaces": ["web", "docs"], "issuers": {"email": "tls@your.domain"}}
    objects, manifests = render(values)
    validate(objects)
    notes = manifests["certctl/templates/NOTES.txt"]
    for shown in ["helm test certctl -n certctl", "kubectl -n certctl logs certctl-check", "kubectl -n certctl create job --from=cronjob/certctl certctl-now"]:
        assert shown in readme and shown in notes


def merge(base, extra):
    result = dict(base)
    for key, value in extra.items():
        result[key] = merge(result.get(key, {}), value) if isinstance(value, dict) else value
    return result


def test_fallback_chains_become_the_issuers_annotation_and_name_defined_issuers():
    zerossl = {"acme": {"server": "https://acme.zerossl.com/v2/DV90", "privateKeySecretRef": {"name": "zerossl"},
                        "externalAccountBinding": {"keyID": "kid", "keySecretRef": {"name": "zerossl-eab", "key": "secret"}}}}
    # Off by default: no issuer carries the annotation.
    objects, _ = render()
    data = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    assert all("certctl.io/fallback-issuers" not in text for text in data.values())
    objects, _ = render({"issuers": {"extra": {"zerossl": zerossl},
                                     "fallback": {"letsencrypt-prod": ["zerossl", "letsencrypt-staging"], "zerossl": ["letsencrypt-prod"]}}})
    data = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    prod = yaml.safe_load(data["letsencrypt-prod.yaml"])
    assert prod["metadata"]["annotations"] == {"certctl.io/fallback-issuers": "zerossl, letsencrypt-staging",
                                               "certctl.io/rate-limits": "letsencrypt"}
    assert prod["spec"] == yaml.safe_load((CHART / "files" / "issuers" / "letsencrypt-prod.yaml").read_text())["spec"]
    assert yaml.safe_load(data["zerossl.yaml"])["metadata"]["annotations"] == {"certctl.io/fallback-issuers": "letsencrypt-prod"}
    assert "certctl.io/fallback-issuers" not in yaml.safe_load(data["letsencrypt-staging.yaml"])["metadata"]["annotations"]


def test_rate_limits_become_the_issuers_annotation_for_issuers_the_chart_writes():
    zerossl = {"acme": {"server": "https://acme.zerossl.com/v2/DV90", "privateKeySecretRef": {"name": "zerossl"}}}
    # By default the bundled Let's Encrypt issuers carry Let's Encrypt's limits, as issuers/ does.
    objects, _ = render()
    data = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    assert yaml.safe_load(data["letsencrypt-prod.yaml"])["metadata"]["annotations"] == {"certctl.io/rate-limits": "letsencrypt"}
    assert "annotations" not in yaml.safe_load(data["pebble.yaml"])["metadata"]
    objects, _ = render({"issuers": {"extra": {"zerossl": zerossl},
                                     "rateLimits": {"zerossl": "orders=300/3h", "letsencrypt-prod": "none"},
                                     "fallback": {"zerossl": ["letsencrypt-prod"]}}})
    data = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    assert yaml.safe_load(data["zerossl.yaml"])["metadata"]["annotations"] == {
        "certctl.io/rate-limits": "orders=300/3h", "certctl.io/fallback-issuers": "letsencrypt-prod"}
    # A value set here wins over the bundled file's.
    assert yaml.safe_load(data["letsencrypt-prod.yaml"])["metadata"]["annotations"] == {"certctl.io/rate-limits": "none"}
    with pytest.raises(Exception) as refused:
        render({"issuers": {"rateLimits": {"nowhere": "none"}}})
    assert "issuers.rateLimits.nowhere: nowhere is neither a bundled issuer nor one of issuers.extra" in str(refused.value)
    with pytest.raises(Exception) as refused:
        render({"issuers": {"rateLimits": {"letsencrypt-prod": "orders=300/3h\nkind: Secret"}}})
    assert "rateLimits" in str(refused.value)


@pytest.mark.parametrize(
    "fallback, words",
    [
        ({"letsencrypt-prod": ["zerossl"]}, "issuers.fallback.letsencrypt-prod[0] names zerossl"),
        ({"nowhere": ["letsencrypt-staging"]}, "issuers.fallback.nowhere names nowhere"),
        ({"letsencrypt-prod": ["ClusterIssuer/corp"]}, "names ClusterIssuer/corp"),
    ],
)
def test_a_fallback_to_an_issuer_the_chart_does_not_define_is_refused_by_name(fallback, words):
    with pytest.raises(Exception) as refused:
        render({"issuers": {"fallback": fallback}})
    assert words in str(refused.value)
    # With the cluster's issuers read, a ClusterIssuer of the cluster may be named as a fallback,
    # never as the chain's own issuer (the chart annotates only its own files).
    if "nowhere" in words:
        with pytest.raises(Exception) as refused:
            render({"issuersFromCluster": True, "issuers": {"fallback": fallback}})
        assert words in str(refused.value)
    if "ClusterIssuer/" in words:
        objects, _ = render({"issuersFromCluster": True, "issuers": {"fallback": fallback}})
        assert "ClusterIssuer/corp" in find(objects, "ConfigMap", "certctl-issuers")[0]["data"]["letsencrypt-prod.yaml"]
