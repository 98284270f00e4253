"""The values every chart of this kind takes (the names and shapes of the cert-manager and
x509-certificate-exporter charts), names from nameOverride/fullnameOverride so that two
releases share a cluster, the Prometheus operator's objects (validated against its CRDs), and
the value combinations refused at render time with a message naming the value."""

import json
import re

import helm_python as helm
import pytest
import yaml

from chartlib import CHART, OPERATOR_API, find, lint_findings, name_problems, render, validate

POD_VALUES = {
    "nodeSelector": {"kubernetes.io/os": "linux", "pool": "system"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}]}}},
    "priorityClassName": "cluster-critical-jobs",
    "podLabels": {"team": "platform"},
    "podAnnotations": {"sidecar.istio.io/inject": "false"},
    "imagePullSecrets": [{"name": "regcred"}],
}


def pods(objects):
    """The pod templates of the job, the exporter and the test hook, by component."""
    job = find(objects, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]
    exporter = find(objects, "Deployment")[0]["spec"]["template"]
    hook = find(objects, "Pod")[0]
    return {"job": job, "exporter": exporter, "check": hook}


def test_pod_settings_reach_every_pod():
    objects, _ = render({**POD_VALUES, "namespaces": ["web"]})
    validate(objects)
    assert not lint_findings(CHART, POD_VALUES)
    for component, pod in pods(objects).items():
        spec = pod["spec"]
        for key in ["nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets"]:
            assert spec[key] == POD_VALUES[key], (component, key)
        assert pod["metadata"]["labels"]["team"] == "platform"
        assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == component
        assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false", component
    # Unset: no such field at all.
    for component, pod in pods(render()[0]).items():
        for key in ["nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets"]:
            assert key not in pod["spec"], (component, key)


def test_extra_env_and_args():
    env = [{"name": "HTTPS_PROXY", "value": "http://proxy.internal:3128"}, {"name": "NO_PROXY", "value": "10.0.0.0/8,.svc"}]
    objects, _ = render({"extraEnv": env, "extraArgs": ["--key-type=rsa-2048"], "exporter": {"extraArgs": ["--cache-seconds=60"]}})
    validate(objects)
    running = pods(objects)
    job = running["job"]["spec"]["containers"][0]
    assert job["env"][-2:] == env and job["env"][0]["name"] == "POD_NAME"
    assert job["args"][-1] == "--key-type=rsa-2048" and job["args"][0] == "run"
    assert running["check"]["spec"]["containers"][0]["env"] == job["env"], "the hook reaches the CA as the job does"
    exporter = running["exporter"]["spec"]["containers"][0]
    assert exporter["args"][-1] == "--cache-seconds=60" and "--key-type=rsa-2048" not in exporter["args"]


@pytest.mark.parametrize("value, args, instead", [
    ("extraArgs", ["-n", "web"], "set namespaces instead"),
    ("extraArgs", ["-nweb"], "set namespaces instead"),
    ("extraArgs", ["--namespace=web"], "set namespaces instead"),
    ("extraArgs", ["--namespace", "web"], "set namespaces instead"),
    ("extraArgs", ["-A"], "list the namespaces in namespaces instead"),
    ("extraArgs", ["--all-namespaces"], "list the namespaces in namespaces instead"),
    ("extraArgs", ["--issuers=/etc/issuers"], "set issuers.extra instead"),
    ("extraArgs", ["--issuers", "/etc/issuers"], "set issuers.extra instead"),
    ("extraArgs", ["--default-issuer=letsencrypt-staging"], "set defaultIssuer instead"),
    ("extraArgs", ["--default-issuer", "letsencrypt-staging"], "set defaultIssuer instead"),
    ("extraArgs", ["--issuers-from-cluster"], "set issuersFromCluster instead"),
    ("extraArgs", ["--http01-listen=0.0.0.0:80"], "set http01Port instead"),
    ("extraArgs", ["--http01-listen", "0.0.0.0:80"], "set http01Port instead"),
    ("extraArgs", ["--kubeconfig=/k"], "remove it: in the pod certctl uses its ServiceAccount"),
    ("extraArgs", ["--context", "prod"], "remove it: in the pod certctl uses its ServiceAccount"),
    ("extraArgs", ["--manifests=/m"], "remove it: the chart runs certctl on the cluster"),
    ("extraArgs", ["--state", "/s"], "remove it: the chart runs certctl on the cluster"),
    ("exporter.extraArgs", ["--listen=0.0.0.0:9000"], "set exporter.port instead"),
    ("exporter.extraArgs", ["--listen", "0.0.0.0:9000"], "set exporter.port instead"),
    ("exporter.extraArgs", ["-n", "web"], "set namespaces instead"),
    ("extraArgs", ["--certctl-namespace=tls"], "remove it: certctl's own namespace (its Lease, accounts, run history) is the release namespace"),
])
def test_extra_args_that_change_what_the_chart_set_up_are_refused(value, args, instead):
    """An argument that would take certctl past the RBAC, mounts and ports the chart made."""
    values = {"extraArgs": args} if value == "extraArgs" else {"exporter": {"extraArgs": args}}
    with pytest.raises(helm.HelmRenderError) as refused:
        render(values)
    assert f'{value} has "{args[0]}", which changes what the chart sets up: {instead}' in str(refused.value)


@pytest.mark.parametrize("name", ["POD_NAME", "POD_NAMESPACE", "POD_IP", "CERTCTL_POD_LABELS_FILE", "CERTCTL_NAMESPACE"])
def test_extra_env_that_changes_what_the_chart_set_up_is_refused(name):
    """The pod's identity (the solver objects name and select it) and certctl's own namespace
    (where the chart grants the Lease, accounts and run history) are the chart's: a second
    entry of one name would override it."""
    with pytest.raises(helm.HelmRenderError, match=f"extraEnv sets {name}: remove it, "):
        render({"extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}, {"name": name, "value": "x"}]})


def test_extra_args_that_change_nothing_set_up_are_passed():
    args = ["--key-type=rsa-2048", "--dry-run", "--lease-seconds", "600", "--acme-timeout=60"]
    objects, _ = render({"extraArgs": args, "exporter": {"extraArgs": ["--cache-seconds=60"]}})
    assert pods(objects)["job"]["spec"]["containers"][0]["args"][-5:] == args


def test_cron_job_settings():
    objects, manifests = render({"suspend": True, "timeZone": "Europe/Berlin", "ttlSecondsAfterFinished": 86400})
    validate(objects)
    spec = find(objects, "CronJob")[0]["spec"]
    assert spec["suspend"] is True and spec["timeZone"] == "Europe/Berlin"
    assert spec["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] == 86400
    assert "suspended (suspend: true)" in manifests["certctl/templates/NOTES.txt"]
    plain = find(render()[0], "CronJob")[0]["spec"]
    assert plain["suspend"] is False and "timeZone" not in plain and "ttlSecondsAfterFinished" not in plain["jobTemplate"]["spec"]
    for zone in ["UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Europe/Lisbon"]:
        assert find(render({"timeZone": zone})[0], "CronJob")[0]["spec"]["timeZone"] == zone
    zero = find(render({"ttlSecondsAfterFinished": 0})[0], "CronJob")[0]["spec"]["jobTemplate"]["spec"]
    assert zero["ttlSecondsAfterFinished"] == 0, "0 (removed at once) is a value, not unset"


@pytest.mark.parametrize(
    "image, expected",
    [
        ({}, "quay.io/mybinder/certctl:0.1.0"),
        ({"tag": "0.2.0"}, "quay.io/mybinder/certctl:0.2.0"),
        ({"tag": 1}, "quay.io/mybinder/certctl:1"),
        ({"tag": 1.5}, "quay.io/mybinder/certctl:1.5"),
        ({"tag": None}, "quay.io/mybinder/certctl:0.1.0"),
        ({"registry": "mirror.internal:5000", "repository": "mybinder/certctl"}, "mirror.internal:5000/mybinder/certctl:0.1.0"),
        ({"digest": "sha256:" + "ab" * 32}, "quay.io/mybinder/certctl@sha256:" + "ab" * 32),
    ],
)
def test_image(image, expected):
    objects, _ = render({"image": image})
    for component, pod in pods(objects).items():
        assert pod["spec"]["containers"][0]["image"] == expected, component
    version = find(objects, "CronJob")[0]["metadata"]["labels"]["app.kubernetes.io/version"]
    assert version == expected.rsplit(":", 1)[1] if "@" not in expected else version == "0.1.0"


def test_image_tag_from_set_is_taken_as_given():
    """`--set image.tag=1.0` (Helm's parser keeps it text) and `--set image.tag=1` (a number)."""
    for given, tag in [("image.tag=1.0", "1.0"), ("image.tag=1", "1")]:
        objects, _ = render(helm.parse_set_string(given))
        assert find(objects, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":" + tag)


def test_chart_yaml_for_artifact_hub():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["home"].startswith("https://") and chart["home"] != "https://mybinder.org"
    assert chart["icon"].startswith("https://") and chart["sources"] and chart["maintainers"][0]["name"]
    annotations = chart["annotations"]
    images = yaml.safe_load(annotations["artifacthub.io/images"])
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert images == [{"name": "certctl", "image": f"{values['image']['repository']}:{chart['appVersion']}"}]
    assert annotations["artifacthub.io/category"] == "security"
    for link in yaml.safe_load(annotations["artifacthub.io/links"]):
        assert link["url"].startswith("https://")
    assert all(change["kind"] in {"added", "changed", "fixed", "removed", "deprecated", "security"}
               for change in yaml.safe_load(annotations["artifacthub.io/changes"]))


def test_resources_can_be_cleared():
    """null clears the chart's requests and limits. `{}` cannot: Helm merges a map given into the
    default map (the README says so), so it keeps them."""
    objects, _ = render({"resources": None, "exporter": {"resources": None}})
    validate(objects)
    for component, pod in pods(objects).items():
        assert "resources" not in pod["spec"]["containers"][0], component
    objects, _ = render({"resources": {}, "exporter": {"resources": {}}})
    assert pods(objects)["job"]["spec"]["containers"][0]["resources"]["limits"] == {"memory": "256Mi"}
    objects, _ = render({"resources": {"limits": {"memory": "1Gi"}}})
    assert pods(objects)["job"]["spec"]["containers"][0]["resources"] == {"limits": {"memory": "1Gi"}, "requests": {"cpu": "50m", "memory": "64Mi"}}


def test_labels_common_and_sanitised(tmp_path):
    objects, _ = render({"commonLabels": {"cost-center": "platform"}, "namespaces": ["web"]})
    for document in objects:
        labels = document["metadata"]["labels"]
        assert labels["cost-center"] == "platform", document["kind"]
        assert labels["app.kubernetes.io/instance"] == "certctl" and labels["helm.sh/chart"] == "certctl-0.2.0"
    # A version with SemVer build metadata: `+` is not allowed in a label value.
    copy = tmp_path / "certctl"
    import shutil
    shutil.copytree(CHART, copy)
    text = (copy / "Chart.yaml").read_text().replace("version: 0.2.0", "version: 0.2.0+build.7")
    (copy / "Chart.yaml").write_text(text)
    objects, _ = render(chart=helm.Chart.load(str(copy)))
    validate(objects)
    for document in objects:
        assert document["metadata"]["labels"]["helm.sh/chart"] == "certctl-0.2.0_build.7"


@pytest.mark.parametrize("values, named", [
    ({"commonLabels": {"app.kubernetes.io/instance": "web"}}, "commonLabels sets app.kubernetes.io/instance"),
    ({"commonLabels": {"app.kubernetes.io/name": "tls"}}, "commonLabels sets app.kubernetes.io/name"),
    ({"podLabels": {"app.kubernetes.io/component": "tls"}}, "podLabels sets app.kubernetes.io/component"),
    ({"podLabels": {"app.kubernetes.io/instance": "web"}}, "podLabels sets app.kubernetes.io/instance"),
    ({"commonLabels": {"helm.sh/chart": "tls"}}, "commonLabels sets helm.sh/chart"),
    ({"dashboard": {"labels": {"app.kubernetes.io/version": "2"}}}, "dashboard.labels sets app.kubernetes.io/version"),
    ({"prometheus": {"serviceMonitor": {"enabled": True, "labels": {"app.kubernetes.io/name": "x"}}}},
     "prometheus.serviceMonitor.labels sets app.kubernetes.io/name"),
])
def test_a_label_the_chart_sets_cannot_be_given_again(values, named):
    """It would be a key twice in the object's labels (refused at apply) and, for the selector's,
    a Deployment whose selector and pod labels disagree: refused, naming the value."""
    with pytest.raises(helm.HelmRenderError) as refused:
        render(values, api_versions=OPERATOR_API)
    assert named in str(refused.value) and "remove" in str(refused.value)


def test_labels_given_in_two_values_are_one_key():
    """commonLabels and podLabels (or a monitor's, the rule's, the dashboard's labels) naming the
    same label: one key, the more particular value."""
    values = {"commonLabels": {"team": "platform", "tier": "infra"}, "podLabels": {"team": "pods"},
              "dashboard": {"labels": {"grafana_dashboard": "1", "team": "grafana"}},
              "prometheusRule": {"enabled": True, "labels": {"team": "alerts"}},
              "prometheus": {"podMonitor": {"enabled": True, "labels": {"team": "scrape"}}}}
    objects, _ = render(values, api_versions=OPERATOR_API)  # the strict loader refuses a key twice
    validate(objects)
    for component, pod in pods(objects).items():
        assert pod["metadata"]["labels"]["team"] == "pods" and pod["metadata"]["labels"]["tier"] == "infra", component
    assert find(objects, "ConfigMap", "certctl-dashboard")[0]["metadata"]["labels"]["team"] == "grafana"
    assert find(objects, "PrometheusRule")[0]["metadata"]["labels"]["team"] == "alerts"
    assert find(objects, "PodMonitor")[0]["metadata"]["labels"]["team"] == "scrape"
    assert find(objects, "CronJob")[0]["metadata"]["labels"]["team"] == "platform"


def keys(objects):
    return [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]


def test_names_follow_name_and_fullname_overrides():
    named = {"fullnameOverride": "tls", "namespaces": ["web"], "gatewayAPI": True, "issuersFromCluster": True, "prometheusRule": {"enabled": True}}
    objects, manifests = render(named, name="edge", namespace="infra", api_versions=OPERATOR_API)
    validate(objects)
    for kind, namespace, name in keys(objects):
        assert name.startswith(("tls", "infra.tls")), (kind, name)
    assert pods(objects)["job"]["spec"]["volumes"][0]["configMap"]["name"] == "tls-issuers"
    assert find(objects, "ConfigMap", "tls-issuers")
    notes = manifests["certctl/templates/NOTES.txt"]
    assert "create job --from=cronjob/tls tls-now" in notes and "logs tls-check" in notes and "svc/tls-exporter" in notes
    objects, _ = render({"nameOverride": "tlsctl"}, name="edge")
    assert find(objects, "CronJob", "edge-tlsctl") and find(objects, "Deployment", "edge-tlsctl-exporter")
    assert find(objects, "CronJob")[0]["metadata"]["labels"]["app.kubernetes.io/name"] == "tlsctl"
    objects, _ = render({}, name="certctl-staging")
    assert find(objects, "CronJob", "certctl-staging"), "a release name containing the chart's is used as is"


@pytest.mark.parametrize("release", [
    "my.certctl",                      # helm install my.certctl: a Service name has no dot
    "tls.example.net",
    "a" * 53,                          # Helm's longest release name: RELEASE-certctl is 61
    "platform-certificates-for-web-and-docs-clusters-42",
    "x" * 50 + "--y",                  # cut at 52 before a dash: no trailing dash left
])
def test_every_name_is_one_the_api_server_takes(release):
    """The names the API server refuses, which no OpenAPI schema catches: a Service named with a
    dot, a CronJob over 52 characters. Dots become dashes; the full name is cut at 52."""
    values = {"namespaces": ["web"], "gatewayAPI": True, "issuersFromCluster": True,
              "prometheusRule": {"enabled": True}, "prometheus": {"serviceMonitor": {"enabled": True}}}
    objects, manifests = render(values, name=release, api_versions=OPERATOR_API)
    validate(objects)
    assert name_problems(objects) == []
    cronjob = find(objects, "CronJob")[0]["metadata"]["name"]
    assert "." not in cronjob and len(cronjob) <= 52 and not cronjob.endswith("-")
    assert find(objects, "Service")[0]["metadata"]["name"] == f"{cronjob}-exporter"
    assert f"create job --from=cronjob/{cronjob} {cronjob}-now" in manifests["certctl/templates/NOTES.txt"]
    # The Roles outside the release namespace: NAMESPACE.FULLNAME, the one dot theirs.
    assert {r["metadata"]["name"] for r in find(objects, "Role", namespace="web")} == {f"certctl.{cronjob}", f"certctl.{cronjob}-exporter"}


def test_a_name_the_api_server_would_refuse_is_refused_by_helm():
    with pytest.raises(helm.HelmValuesError, match="fullnameOverride"):
        render({"fullnameOverride": "a" * 53})
    assert find(render({"fullnameOverride": "a" * 52})[0], "CronJob", "a" * 52)
    # A release name beginning with a digit (Helm allows it): the exporter's Service may not.
    with pytest.raises(helm.HelmRenderError, match="the exporter's Service would be named 1st-certctl-exporter .* set fullnameOverride"):
        render(name="1st")
    assert find(render({"fullnameOverride": "tls-1st"}, name="1st")[0], "Service", "tls-1st-exporter")
    assert not name_problems(render({"exporter": {"enabled": False}}, name="1st")[0])


def test_exporter_selects_its_release_only():
    objects, _ = render()
    deployment = find(objects, "Deployment")[0]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "certctl", "app.kubernetes.io/instance": "certctl", "app.kubernetes.io/component": "exporter"}
    assert find(objects, "Service")[0]["spec"]["selector"] == selector
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in selector.items())


def test_two_releases_share_a_cluster():
    """Three releases, as platform teams install them, one release per namespace (README.md):
    each its own namespace and managed namespaces no other lists, one of them named as another
    in another namespace, with every cluster-scoped switch on and the dashboards in one Grafana
    namespace. Helm refuses to install an object another release owns: no two objects may share
    a kind, namespace and name (or a kind and name, cluster-scoped)."""
    switches = {"gatewayAPI": True, "issuersFromCluster": True, "prometheusRule": {"enabled": True},
                "prometheus": {"serviceMonitor": {"enabled": True}}, "dashboard": {"namespace": "monitoring"}}
    releases = [
        ("certctl", "certctl", {**switches, "namespaces": ["web", "docs"]}),
        ("certctl-staging", "certctl-staging", {**switches, "namespaces": ["web-staging"], "defaultIssuer": "letsencrypt-staging"}),
        ("certctl", "team-b", {**switches, "namespaces": ["team-b", "team-b-apps"]}),
    ]
    # The README's rule, which the chart cannot check (it sees one release): every namespace,
    # own or managed, is one release's.
    claimed = [{namespace, *values["namespaces"]} for _, namespace, values in releases]
    assert all(not (a & b) for i, a in enumerate(claimed) for b in claimed[i + 1:]), claimed
    cluster = []
    for name, namespace, values in releases:
        objects, _ = render(values, name=name, namespace=namespace, api_versions=OPERATOR_API)
        assert name_problems(objects) == []
        cluster += [o for o in objects if o["kind"] != "Pod"]  # the hook runs on `helm test` only
        hook = find(objects, "Pod")[0]
        assert hook["metadata"]["name"] == f"{name}-check" and hook["metadata"]["namespace"] == namespace
    seen = keys(cluster)
    duplicates = sorted({key for key in seen if seen.count(key) > 1})
    assert duplicates == [], duplicates
    for managed in ["web", "docs", "web-staging", "team-b-apps"]:
        assert len(find(cluster, "Role", namespace=managed)) == 2, "a job and an exporter Role, one release's"
    assert len(find(cluster, "Role", namespace="team-b")) == 4, "its own two and, managed, two more"
    assert len(find(cluster, "ClusterRole")) == 6
    assert len(find(cluster, "ConfigMap", namespace="monitoring")) == 3, "a dashboard per release"
    # The selectors too: one release's exporter Service never selects another's pods.
    services = find(cluster, "Service")
    selectors = [json.dumps(s["spec"]["selector"], sort_keys=True) + s["metadata"]["namespace"] for s in services]
    assert len(set(selectors)) == len(services)


def test_the_readmes_say_one_release_per_namespace():
    """Two releases sharing a namespace do not take turns: the Lease and the run history have
    fixed names in the release namespace, and each run deletes every solver object (by label) in
    the namespaces it solves in and its own. Both READMEs say so, and neither says otherwise."""
    from chartlib import REPOSITORY
    for readme in [CHART / "README.md", REPOSITORY / "README.md"]:
        text = " ".join(readme.read_text().split())
        assert "take turns" not in text and "may manage the same" not in text, readme
        assert "One release per namespace" in text, readme
        for named in ["`certctl-run`", "`certctl-run-history`", "`certctl.io/http01-solver=true`"]:
            assert named in text, (readme, named)
    values = (CHART / "values.yaml").read_text()
    assert "One release per namespace" in values


@pytest.mark.parametrize("kind", ["serviceMonitor", "podMonitor"])
def test_a_monitor_replaces_the_scrape_annotations(kind):
    monitor = {"enabled": True, "labels": {"release": "kube-prometheus-stack"}, "interval": "60s", "scrapeTimeout": "20s"}
    objects, _ = render({"prometheus": {kind: monitor}}, api_versions=OPERATOR_API)
    validate(objects)
    [made] = find(objects, kind[0].upper() + kind[1:])
    assert made["metadata"]["name"] == "certctl-exporter" and made["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    endpoints = made["spec"]["endpoints" if kind == "serviceMonitor" else "podMetricsEndpoints"]
    assert endpoints == [{"port": "metrics", "path": "/metrics", "honorLabels": True, "interval": "60s", "scrapeTimeout": "20s"}]
    selected = made["spec"]["selector"]["matchLabels"]
    target = find(objects, "Service")[0] if kind == "serviceMonitor" else find(objects, "Deployment")[0]["spec"]["template"]
    assert all(target["metadata"]["labels"][k] == v for k, v in selected.items())
    assert made["spec"]["namespaceSelector"] == {"matchNames": ["certctl"]}
    if kind == "serviceMonitor":
        assert [p["name"] for p in find(objects, "Service")[0]["spec"]["ports"]] == ["metrics"]
    # No prometheus.io annotation anywhere: the operator's Prometheus scrapes it once.
    for document in objects:
        for place in [document["metadata"], document.get("spec", {}).get("template", {}).get("metadata", {})]:
            assert not any(a.startswith("prometheus.io/") for a in (place.get("annotations") or {})), document["kind"]


def test_without_a_monitor_only_the_pod_is_annotated():
    objects, _ = render({"podAnnotations": {"team": "x"}})
    annotated = []
    for document in objects:
        for where, place in [("object", document["metadata"]), ("pod", document.get("spec", {}).get("template", {}).get("metadata", {}))]:
            if any(a.startswith("prometheus.io/") for a in (place.get("annotations") or {})):
                annotated.append((document["kind"], where))
    assert annotated == [("Deployment", "pod")], "scraped once: by the Pod's annotations, not the Service's too"
    pod = find(objects, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
    assert pod == {"prometheus.io/scrape": "true", "prometheus.io/port": "9102", "prometheus.io/path": "/metrics", "team": "x"}
    assert not find(objects, "ServiceMonitor") and not find(objects, "PodMonitor")


def test_prometheus_rule_labels_and_crd():
    objects, _ = render({"prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}}, api_versions=OPERATOR_API)
    validate(objects)
    [rule] = find(objects, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    expected = yaml.safe_load((CHART / "files" / "certctl.rules.yml").read_text())
    assert rule["spec"] == expected and not find(objects, "ConfigMap", "certctl-alert-rules")


def test_the_crd_validation_refuses_what_the_operator_would_not_take():
    """The CRD check itself can fail: an unknown field and a wrong type are refused."""
    objects, _ = render({"prometheus": {"serviceMonitor": {"enabled": True}}}, api_versions=OPERATOR_API)
    [monitor] = find(objects, "ServiceMonitor")
    import jsonschema
    for broken in [{"honorLabel": True}, {"interval": 60}]:
        bad = json.loads(json.dumps(monitor))
        bad["spec"]["endpoints"][0].update(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate([bad])


def dashboard_model(configmap):
    [(key, text)] = configmap["data"].items()
    return key, json.loads(text)


def test_dashboard_for_grafanas_sidecar():
    values = {"dashboard": {"labels": {"grafana_dashboard": "certctl"}, "annotations": {"grafana_folder": "TLS"}, "namespace": "monitoring"}}
    objects, _ = render(values)
    validate(objects)
    # In Grafana's namespace: named with the release's namespace, as the Roles outside it are.
    [dashboard] = find(objects, "ConfigMap", "certctl.certctl-dashboard")
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "certctl"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "TLS"}
    key, model = dashboard_model(dashboard)
    assert key == "certctl.certctl.json" and model["title"] == "certctl (certctl/certctl)"
    shipped = json.loads((CHART / "files" / "certctl-dashboard.json").read_text())
    assert {k: v for k, v in model.items() if k not in ("uid", "title")} == {k: v for k, v in shipped.items() if k not in ("uid", "title")}
    default = find(render()[0], "ConfigMap", "certctl-dashboard")[0]
    assert default["metadata"]["labels"]["grafana_dashboard"] == "1" and default["metadata"]["namespace"] == "certctl"
    assert dashboard_model(default)[1]["uid"] == model["uid"], "the same release: the same dashboard"
    assert sorted(c["metadata"]["name"] for c in find(render({"dashboard": {"enabled": False}})[0], "ConfigMap")) == ["certctl-alert-rules", "certctl-issuers"]


def test_two_releases_dashboards_are_two_in_grafana():
    """Two releases sending their dashboards to Grafana's namespace: two ConfigMaps, two files
    in the sidecar's folder, two uids (Grafana keeps one dashboard per uid) and titles."""
    seen = []
    for name, namespace in [("certctl", "certctl"), ("certctl", "team-b"), ("certctl-staging", "certctl")]:
        objects, _ = render({"dashboard": {"namespace": "monitoring"}}, name=name, namespace=namespace)
        [dashboard] = find(objects, "ConfigMap", namespace="monitoring")
        key, model = dashboard_model(dashboard)
        assert re.fullmatch(r"[a-z0-9-]{1,40}", model["uid"]), "Grafana's uid: at most 40 of these"
        seen.append((dashboard["metadata"]["name"], key, model["uid"], model["title"]))
    for field in range(4):
        assert len({s[field] for s in seen}) == 3, seen
    # The longest full name still gives a uid Grafana takes.
    [dashboard] = find(render(name="a" * 53)[0], "ConfigMap", "a" * 52 + "-dashboard")
    assert len(dashboard_model(dashboard)[1]["uid"]) <= 40


REFUSED = [
    ({"prometheus": {"serviceMonitor": {"enabled": True}}}, None,
     "prometheus.serviceMonitor.enabled is true, but this cluster does not serve monitoring.coreos.com/v1/ServiceMonitor .*--api-versions monitoring.coreos.com/v1/ServiceMonitor"),
    ({"prometheus": {"podMonitor": {"enabled": True}}}, None,
     "prometheus.podMonitor.enabled is true, but this cluster does not serve monitoring.coreos.com/v1/PodMonitor"),
    ({"prometheusRule": {"enabled": True}}, None,
     "prometheusRule.enabled is true, but this cluster does not serve monitoring.coreos.com/v1/PrometheusRule .* set prometheusRule.enabled to false"),
    # A cluster serving monitoring.coreos.com/v1 but not the kind asked for (some of the
    # operator's CRDs installed, or another project's in that group).
    ({"prometheusRule": {"enabled": True}}, ["monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"],
     "prometheusRule.enabled is true, but this cluster does not serve monitoring.coreos.com/v1/PrometheusRule"),
    ({"prometheus": {"podMonitor": {"enabled": True}}}, ["monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"],
     "prometheus.podMonitor.enabled is true, but this cluster does not serve monitoring.coreos.com/v1/PodMonitor"),
    ({"prometheus": {"serviceMonitor": {"enabled": True}}}, ["monitoring.coreos.com/v1", "monitoring.coreos.com/v1/PodMonitor"],
     "prometheus.serviceMonitor.enabled is true, but this cluster does not serve monitoring.coreos.com/v1/ServiceMonitor"),
    ({"prometheus": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}}, OPERATOR_API,
     "prometheus.podMonitor.enabled and prometheus.serviceMonitor.enabled are both true"),
    ({"exporter": {"enabled": False}, "prometheus": {"serviceMonitor": {"enabled": True}}}, OPERATOR_API,
     "prometheus.serviceMonitor.enabled is true but exporter.enabled is false"),
    ({"issuers": {"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "web"}]}}}}, None,
     "issuers.http01.gatewayHTTPRoute answers HTTP-01 through HTTPRoutes, which the job may create only with gatewayAPI: true"),
    ({"issuers": {"extra": {"own": {"acme": {"server": "https://acme.internal/dir", "solvers": [{"http01": {"gatewayHTTPRoute": {}}}]}}}}}, None,
     "issuers.extra.own solves HTTP-01 through gatewayHTTPRoute, which the job may create only with gatewayAPI: true"),
    ({"defaultIssuer": "letsencrypt"}, None,
     'defaultIssuer is "letsencrypt", which is no issuer of this chart \\(letsencrypt-prod, letsencrypt-staging, pebble\\): set defaultIssuer'),
]


@pytest.mark.parametrize("values, api_versions, message", REFUSED)
def test_combinations_that_would_fail_at_run_time_are_refused(values, api_versions, message):
    with pytest.raises(helm.HelmRenderError) as refused:
        render(values, api_versions=api_versions)
    assert re.search(message, str(refused.value)), str(refused.value)


def test_what_the_refusals_allow():
    """The other side of each refusal: the same values where they are right render."""
    with_routes = {"gatewayAPI": True, "issuers": {"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "web"}]}}}}
    validate(render(with_routes)[0])
    assert find(render({"defaultIssuer": "mine", "issuers": {"extra": {"mine": {"acme": {"server": "https://acme.internal/dir"}}}}})[0], "CronJob")
    assert find(render({"defaultIssuer": "letsencrypt", "issuersFromCluster": True})[0], "CronJob"), "a ClusterIssuer of the cluster"
    # Each object where its kind is served, whatever else is.
    assert find(render({"prometheusRule": {"enabled": True}}, api_versions=["monitoring.coreos.com/v1/PrometheusRule"])[0], "PrometheusRule")
    for kind in ["serviceMonitor", "podMonitor"]:
        served = ["monitoring.coreos.com/v1", f"monitoring.coreos.com/v1/{kind[0].upper()}{kind[1:]}"]
        assert find(render({"prometheus": {kind: {"enabled": True}}}, api_versions=served)[0], kind[0].upper() + kind[1:])


@pytest.mark.parametrize("extra", [None, {}])
def test_issuers_extra_null_is_none(extra):
    """`issuers.extra: null` (a values file emptying what another set) is no extra issuer."""
    objects, _ = render({"issuers": {"extra": extra, "email": "tls@example.net"}})
    data = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    assert sorted(data) == ["letsencrypt-prod.yaml", "letsencrypt-staging.yaml", "pebble.yaml"]
    assert yaml.safe_load(data["pebble.yaml"])["spec"]["acme"]["email"] == "tls@example.net"
    objects, _ = render({"issuers": {"http01": None}})
    assert find(objects, "ConfigMap", "certctl-issuers")


def test_notes_without_the_exporter():
    _, manifests = render({"exporter": {"enabled": False}})
    notes = manifests["certctl/templates/NOTES.txt"]
    assert "exporter" not in notes and "port-forward" not in notes and "9102" not in notes
    assert "certctl status -n certctl" in notes
    objects, _ = render({"exporter": {"enabled": False}, "namespaces": ["web"]})
    assert not any("exporter" in o["metadata"]["name"] for o in objects)


@pytest.mark.parametrize("exporter", [True, False])
def test_notes_show_the_status_of_the_managed_namespaces(exporter):
    """`certctl status -n RELEASE-NAMESPACE` finds nothing when the certificates are in web and
    docs: the notes name the namespaces the release manages, as the job is given them."""
    objects, manifests = render({"namespaces": ["web", "docs"], "exporter": {"enabled": exporter}})
    notes = manifests["certctl/templates/NOTES.txt"]
    assert "certctl status -n web -n docs\n" in notes + "\n"
    assert "certctl status -n certctl" not in notes
    args = find(objects, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--namespace=")] == ["--namespace=web", "--namespace=docs"]
