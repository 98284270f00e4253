"""The mybinder meta chart (with certctl's chart, charts/certctl, as its dependency), rendered
and linted with the real Helm engine (helm-python-sdk), validated against Kubernetes schemas
(kubernetes-validate), its rules checked by promtool. test_certctl_chart.py tests the chart alone."""

import json
import pathlib
import shutil
import subprocess

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from chartlib import OPERATOR_API, Authorizer, lint_findings, objects_of, render_manifests

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
CHART = REPOSITORY / "mybinder"
KUBERNETES_VERSION = "1.36"


def values(name):
    return yaml.safe_load((CHART / "config" / f"{name}.yaml").read_text())


def render(config, extra=None, namespace="prod", api_versions=None):
    chosen = values(config)
    if extra:
        chosen = merge(chosen, extra)
    manifests = render_manifests(chosen, chart=helm.Chart.load(str(CHART)), name=config, namespace=namespace, api_versions=api_versions)
    return objects_of(manifests), manifests


def merge(base, extra):
    result = dict(base)
    for key, value in extra.items():
        result[key] = merge(result.get(key, {}), value) if isinstance(value, dict) else value
    return result


def find(objects, kind, name=None):
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


@pytest.mark.parametrize("config", ["prod", "staging"])
def test_renders_lints_and_validates(config):
    objects, _ = render(config)
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == ["ConfigMap", "CronJob", "Deployment", "Ingress", "Pod", "Role", "RoleBinding", "Service", "ServiceAccount"]
    for document in objects:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    # helm lint --strict: the pinned subcharts cannot be fetched here, the only finding allowed...
    assert lint_findings(CHART, values(config)) == ["chart directory is missing these dependencies: binderhub,prometheus,grafana"] * 2


@pytest.mark.parametrize("config", ["prod", "staging", "gateway"])
def test_lints_strictly_with_the_dependencies_it_has(tmp_path, config):
    """...so the meta chart is also linted strictly as it is without them (their values kept):
    every template of its own and certctl's, no finding at all."""
    copy = tmp_path / "mybinder"
    shutil.copytree(CHART, copy)
    chart = yaml.safe_load((copy / "Chart.yaml").read_text())
    fetched = [d for d in chart["dependencies"] if d["name"] not in ("binderhub", "prometheus", "grafana")]
    assert [d["name"] for d in fetched] == ["certctl"]
    chart["dependencies"] = fetched
    (copy / "Chart.yaml").write_text(yaml.safe_dump(chart, sort_keys=False))
    chosen = values(config) if config != "gateway" else merge(values("prod"), values("gateway"))
    assert lint_findings(copy, chosen, with_subcharts=True) == []


def test_cronjob():
    objects, _ = render("prod")
    cronjob = find(objects, "CronJob", "certctl")[0]
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"] == "*/15 * * * *"
    assert spec["startingDeadlineSeconds"] == 600
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] == 900
    assert spec["successfulJobsHistoryLimit"] == 3 and spec["failedJobsHistoryLimit"] == 3
    pod = job["template"]["spec"]
    labels = job["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "certctl" and labels["app.kubernetes.io/component"] == "job"
    assert pod["serviceAccountName"] == "certctl"
    container = pod["containers"][0]
    assert container["args"][:2] == ["run", "--issuers=/etc/certctl/issuers"]
    assert "--default-issuer=letsencrypt-prod" in container["args"]
    assert "--namespace=prod" in container["args"]
    assert "--notify-config=/etc/certctl/notify/notify.yaml" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["CERTCTL_POD_LABELS_FILE"]["value"] == "/etc/podinfo/labels"
    assert container["ports"] == [{"name": "http01", "containerPort": 8089, "protocol": "TCP"}]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 65532
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["limits"]["memory"] == "256Mi"
    podinfo = [v for v in pod["volumes"] if v["name"] == "podinfo"][0]
    assert podinfo["downwardAPI"]["items"] == [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]


def test_exporter_is_scraped_by_annotation_once():
    objects, _ = render("prod")
    deployment = find(objects, "Deployment", "certctl-exporter")[0]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "9102", "prometheus.io/path": "/metrics"}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "serve"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The prometheus chart scrapes annotated Pods and annotated Services' endpoints: the Pod only,
    # or every sample would come twice.
    service = find(objects, "Service", "certctl-exporter")[0]
    assert "annotations" not in service["metadata"]


def rules_of(role):
    return {(tuple(r["apiGroups"]), tuple(r["resources"])): r["verbs"] for r in role["rules"]}


def verbs_in(objects, account, namespace):
    """(group, resource) -> verbs the account has in namespace, from the rendered RBAC alone."""
    granted = {}
    for verb, collection, _ in Authorizer(objects).grants(account, namespace):
        group, resource = collection.split("/")
        granted.setdefault(((group,), (resource,)), set()).add(verb)
    return {key: sorted(verbs) for key, verbs in granted.items()}


def test_rbac_grants_the_fewest_verbs():
    objects, _ = render("prod", {"certctl": {"namespaces": ["prod", "other"]}})
    roles = find(objects, "Role", "prod.certctl")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["other", "prod"]
    assert [r["metadata"]["namespace"] for r in find(objects, "Role", "certctl")] == ["prod"]
    # In prod, certctl's namespace and a managed one, exactly what the job was seen to use
    # against the fake API server over a certificate's life (Tests/CertctlTests/PodRBACTests.swift
    # reads the same file); in other, that without the Lease.
    used = json.loads((REPOSITORY / "tests/chart/certctl-api-use.json").read_text())
    expected = {}
    for collection, verbs in used.items():
        group = collection.rsplit("/", 2)[0] if collection.count("/") == 2 else ""
        expected[((group,), (collection.rsplit("/", 1)[1],))] = sorted(verbs)
    job, exporter = ("prod", "certctl"), ("prod", "certctl-exporter")
    assert verbs_in(objects, job, "prod") == expected
    lease = (("coordination.k8s.io",), ("leases",))
    assert verbs_in(objects, job, "other") == {k: v for k, v in expected.items() if k != lease}
    assert verbs_in(objects, exporter, "other") == {
        (("networking.k8s.io",), ("ingresses",)): ["list"],
        (("",), ("secrets",)): ["get", "list"],
        (("",), ("configmaps",)): ["get"],
    }
    assert verbs_in(objects, exporter, "prod") == {**verbs_in(objects, exporter, "other"), lease: ["get"]}
    for role in find(objects, "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"]
    assert not find(objects, "ClusterRole")
    binding = find(objects, "RoleBinding", "prod.certctl")[0]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "certctl", "namespace": "prod"}]


def test_issuers_from_cluster_add_a_read_only_cluster_role():
    objects, _ = render("prod", {"certctl": {"issuersFromCluster": True}})
    for document in objects:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    role = find(objects, "ClusterRole")
    assert len(role) == 1
    assert rules_of(role[0]) == {(("cert-manager.io",), ("clusterissuers",)): ["list"]}
    # The Issuers of the managed namespace are listed by its Role, for the job and the exporter.
    for name in ["prod.certctl", "prod.certctl-exporter"]:
        assert rules_of(find(objects, "Role", name)[0])[(("cert-manager.io",), ("issuers",))] == ["list"]
    binding = find(objects, "ClusterRoleBinding")[0]
    assert binding["roleRef"]["name"] == role[0]["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "certctl", "namespace": "prod"},
        {"kind": "ServiceAccount", "name": "certctl-exporter", "namespace": "prod"},
    ]
    args = find(objects, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--issuers-from-cluster" in args
    # The exporter too: else the Ingresses of in-cluster issuers would be misconfigured objects to it.
    exporter = find(objects, "Deployment", "certctl-exporter")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--issuers-from-cluster" in exporter
    # Off by default: no cluster-wide rule, no flag.
    plain, _ = render("prod")
    assert not find(plain, "ClusterRole") and not find(plain, "ClusterRoleBinding")
    plain_args = find(plain, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--issuers-from-cluster" not in plain_args


def test_edit_in_place_adds_get_and_patch_of_ingresses_only_when_enabled():
    objects, _ = render("prod", {"certctl": {"http01EditInPlace": True}})
    role = find(objects, "Role", "prod.certctl")[0]
    kubernetes_validate.validate(role, KUBERNETES_VERSION, strict=True)
    ingress_rules = [r for r in role["rules"] if r["resources"] == ["ingresses"]]
    assert sorted(sorted(r["verbs"]) for r in ingress_rules) == [["create", "delete", "list"], ["get", "patch"]]
    plain, _ = render("prod")
    plain_rules = [r for r in find(plain, "Role", "prod.certctl")[0]["rules"] if r["resources"] == ["ingresses"]]
    assert [sorted(r["verbs"]) for r in plain_rules] == [["create", "delete", "list"]]


def test_gateway_api_adds_its_rules_only_when_enabled():
    objects, _ = render("prod", {"certctl": {"gatewayAPI": True}})
    role = find(objects, "Role", "prod.certctl")[0]
    kubernetes_validate.validate(role, KUBERNETES_VERSION, strict=True)
    rules = rules_of(role)
    group = ("gateway.networking.k8s.io",)
    assert rules[(group, ("gateways", "listenersets", "referencegrants"))] == ["list"]
    assert rules[(group, ("httproutes",))] == ["list", "create", "delete"]
    exporter = rules_of(find(objects, "Role", "prod.certctl-exporter")[0])
    assert exporter[(group, ("gateways", "listenersets", "referencegrants"))] == ["list"]
    assert (group, ("httproutes",)) not in exporter
    # The solver HTTPRoutes a killed run left are looked for in certctl's own namespace too.
    assert rules_of(find(objects, "Role", "certctl")[0])[(group, ("httproutes",))] == ["list"]
    plain, _ = render("prod")
    for name in ["certctl", "prod.certctl", "prod.certctl-exporter"]:
        assert not any(r["apiGroups"] == list(group) for r in find(plain, "Role", name)[0]["rules"])


def test_no_secret_value_in_the_output():
    # A credential has no value to put it in: the chart's schema refuses one...
    with pytest.raises(helm.HelmError, match="smtpPassword"):
        render("prod", {"certctl": {"smtpPassword": "hunter2-not-for-output"}})
    # ...and names Secrets only, never makes one.
    objects, manifests = render("prod")
    assert not find(objects, "Secret")
    cronjob = find(objects, "CronJob", "certctl")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert {"name": "notify", "secret": {"secretName": "certctl-notify"}} in cronjob["volumes"]


def test_ingress_objects_match_the_repository():
    """ingress/ and the chart's rendering of the same services must not drift apart."""
    objects, _ = render("prod")
    rendered = {o["metadata"]["name"]: o for o in find(objects, "Ingress")}
    files = {}
    for path in sorted((REPOSITORY / "ingress").glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        files[document["metadata"]["name"]] = document
    assert sorted(rendered) == sorted(files)
    for name, document in files.items():
        assert rendered[name]["metadata"]["namespace"] == document["metadata"]["namespace"]
        assert rendered[name]["metadata"]["annotations"] == document["metadata"]["annotations"]
        assert rendered[name]["spec"] == document["spec"], name


def test_issuers_and_rules_come_from_the_repository():
    objects, _ = render("prod")
    issuers = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    files = {p.name: p.read_text() for p in (REPOSITORY / "issuers").glob("*.yaml")}
    assert issuers == files
    rules = find(objects, "ConfigMap", "certctl-alert-rules")[0]["data"]["certctl.rules.yml"]
    assert rules == (REPOSITORY / "alerts" / "certctl.rules.yml").read_text()


@pytest.mark.parametrize("operator", [False, True])
def test_rules_as_rendered_pass_promtool(tmp_path, operator):
    objects, _ = render("prod", {"certctl": {"prometheusRule": {"enabled": operator}}}, api_versions=OPERATOR_API if operator else None)
    if operator:
        rule = find(objects, "PrometheusRule", "certctl")[0]
        text = yaml.safe_dump(rule["spec"])
    else:
        text = find(objects, "ConfigMap", "certctl-alert-rules")[0]["data"]["certctl.rules.yml"]
    (tmp_path / "certctl.rules.yml").write_text(text)
    (tmp_path / "certctl.rules.test.yml").write_text((REPOSITORY / "alerts" / "certctl.rules.test.yml").read_text())
    check = subprocess.run(["promtool", "check", "rules", "certctl.rules.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(["promtool", "test", "rules", "certctl.rules.test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert test.returncode == 0, test.stdout + test.stderr


def test_dashboard_is_grafana_json():
    objects, _ = render("prod")
    dashboard = find(objects, "ConfigMap", "certctl-dashboard")[0]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    [(key, text)] = dashboard["data"].items()
    model = json.loads(text)
    assert key == "prod.certctl.json" and model["title"] == "certctl (prod/certctl)"
    assert model["uid"].startswith("certctl-") and len(model["uid"]) <= 40
    expressions = [t["expr"] for p in model["panels"] for t in p["targets"]]
    assert any("certctl_certificate_not_after_timestamp_seconds" in e for e in expressions)


def test_staging_differs_from_prod_only_where_it_must():
    prod, staging = values("prod"), values("staging")
    assert set(prod) == {"certctl"}
    assert set(staging) == {"certctl", "ingresses"}
    assert {k for k in staging["certctl"] if staging["certctl"][k] != prod["certctl"].get(k)} == {"defaultIssuer"}
    objects, _ = render("staging", namespace="staging")
    hosts = [h for o in find(objects, "Ingress") for h in o["spec"]["tls"][0]["hosts"]]
    assert hosts and all(h.endswith("staging.mybinder.org") for h in hosts)
    cronjob = find(objects, "CronJob", "certctl")[0]
    assert "--default-issuer=letsencrypt-staging" in cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]


def test_notes_tell_how_to_see_status():
    objects, manifests = render("prod")
    notes = manifests["mybinder/templates/NOTES.txt"]
    assert "through 7 Ingresses in prod" in notes
    assert "helm test prod -n prod" in notes and "kubectl -n prod logs certctl-check" in notes
    assert "kubectl -n prod create job --from=cronjob/certctl" in notes
    assert "svc/certctl-exporter 9102" in notes
    # What the notes name exists.
    assert find(objects, "Pod", "certctl-check") and find(objects, "CronJob", "certctl") and find(objects, "Service", "certctl-exporter")
    # Without the exporter, no word of it.
    _, manifests = render("prod", {"certctl": {"exporter": {"enabled": False}}})
    notes = manifests["mybinder/templates/NOTES.txt"]
    assert "exporter" not in notes and "port-forward" not in notes and "certctl status -n prod" in notes
    # Managing other namespaces: the status of those.
    _, manifests = render("prod", {"certctl": {"namespaces": ["web", "docs"]}})
    notes = manifests["mybinder/templates/NOTES.txt"]
    assert "certctl status -n web -n docs" in notes and "certctl status -n prod" not in notes


def test_prometheus_and_grafana_are_wired_to_the_rules_and_the_dashboard():
    """The prometheus chart mounts the rules ConfigMap certctl renders and lists its key in
    rule_files (its own four defaults kept); the grafana chart's sidecar selects the dashboard
    ConfigMap's label. The names are held to what is rendered, so a rename cannot unwire them."""
    meta = yaml.safe_load((CHART / "values.yaml").read_text())
    objects, _ = render("prod")
    [rules] = [o for o in find(objects, "ConfigMap") if "certctl.rules.yml" in o.get("data", {})]
    server = meta["prometheus"]["server"]["extraConfigmapMounts"]
    reloader = meta["prometheus"]["configmapReload"]["prometheus"]
    assert server == reloader["extraConfigmapMounts"]
    [mount] = server
    assert mount["configMap"] == rules["metadata"]["name"] and mount["readOnly"] is True
    assert mount["mountPath"] in reloader["extraVolumeDirs"]
    files = meta["prometheus"]["serverFiles"]["prometheus.yml"]["rule_files"]
    assert files == ["/etc/config/recording_rules.yml", "/etc/config/alerting_rules.yml", "/etc/config/rules",
                     "/etc/config/alerts", f"{mount['mountPath']}/certctl.rules.yml"]
    assert not mount["mountPath"].startswith("/etc/config"), "not inside the server's own ConfigMap mount"
    [dashboard] = [o for o in find(objects, "ConfigMap") if any(k.endswith(".json") for k in o.get("data", {}))]
    sidecar = meta["grafana"]["sidecar"]["dashboards"]
    assert sidecar["enabled"] is True
    assert dashboard["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
    assert dashboard["metadata"]["namespace"] == "prod", "Grafana's namespace: the release's"
    # The Ingresses name the two Services as the dependencies name them with these values,
    # whatever the release is called (the charts' fullname helpers read fullnameOverride and
    # server.fullnameOverride; else they would be RELEASE-grafana and RELEASE-prometheus-server).
    services = {i["name"]: i["service"] for i in meta["ingresses"]}
    assert services["grafana"] == meta["grafana"]["fullnameOverride"] == "grafana"
    assert services["prometheus"] == meta["prometheus"]["server"]["fullnameOverride"] == "prometheus-server"
    # Grafana has a Prometheus datasource, the prometheus chart's server (its Service's port
    # 80), and every panel of the dashboard queries the datasource its variable chooses.
    [source] = meta["grafana"]["datasources"]["datasources.yaml"]["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True and source["access"] == "proxy"
    assert source["url"] == f"http://{meta['prometheus']['server']['fullnameOverride']}"
    [(_, text)] = dashboard["data"].items()
    model = json.loads(text)
    [variable] = model["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == source["type"]
    for panel in model["panels"]:
        assert panel["datasource"] == {"type": source["type"], "uid": "${" + variable["name"] + "}"}, panel["title"]
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"]), panel["title"]
    # Both dependencies stay off until fetched; their values are there for when they are on.
    assert meta["prometheus"]["enabled"] is False and meta["grafana"]["enabled"] is False


GATEWAY = values("gateway")


def test_gateway_routing_serves_the_same_hosts_and_secrets():
    """routing: gateway — one Gateway, an HTTPS listener per host naming the Secret the Ingress
    named, an HTTPRoute per entry to the same Service; no Ingress. The same certificates."""
    objects, manifests = render("prod", GATEWAY)
    report = helm.lint(str(CHART), merge(values("prod"), GATEWAY))
    assert report["errors"] == []
    assert not find(objects, "Ingress")
    [gateway] = find(objects, "Gateway")
    assert gateway["metadata"]["annotations"] == {"kubernetes.io/tls-acme": "true"}
    assert gateway["spec"]["gatewayClassName"] == "traefik"
    https = [l for l in gateway["spec"]["listeners"] if l["protocol"] == "HTTPS"]
    by_secret = {}
    for listener in https:
        assert listener["port"] == 8443 and listener["tls"]["mode"] == "Terminate"
        [ref] = listener["tls"]["certificateRefs"]
        by_secret.setdefault(ref["name"], []).append(listener["hostname"])
    ingresses, _ = render("prod")
    expected = {i["spec"]["tls"][0]["secretName"]: i["spec"]["tls"][0]["hosts"] for i in find(ingresses, "Ingress")}
    assert by_secret == expected
    [http] = [l for l in gateway["spec"]["listeners"] if l["protocol"] == "HTTP"]
    assert http["port"] == 8000 and "hostname" not in http
    routes = {r["metadata"]["name"]: r for r in find(objects, "HTTPRoute")}
    redirect = routes.pop("https-redirect")
    assert redirect["spec"]["parentRefs"] == [{"name": "mybinder", "sectionName": "http"}]
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 301}
    services = {i["metadata"]["name"]: i["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] for i in find(ingresses, "Ingress")}
    assert sorted(routes) == sorted(services)
    listeners = {l["name"]: l["hostname"] for l in https}
    for name, route in routes.items():
        assert route["spec"]["rules"][0]["backendRefs"] == [{"name": services[name]["name"], "port": 80}]
        attached = [listeners[p["sectionName"]] for p in route["spec"]["parentRefs"]]
        assert attached == route["spec"]["hostnames"] == expected[f"kubelego-tls-{name}"]
    assert "Gateway mybinder" in manifests["mybinder/templates/NOTES.txt"]


def test_gateway_routing_issuers_answer_through_routes():
    objects, _ = render("prod", GATEWAY)
    issuers = find(objects, "ConfigMap", "certctl-issuers")[0]["data"]
    for name in ["letsencrypt-prod.yaml", "letsencrypt-staging.yaml", "pebble.yaml"]:
        rendered = yaml.safe_load(issuers[name])
        original = yaml.safe_load((REPOSITORY / "issuers" / name).read_text())
        solvers = rendered["spec"]["acme"].pop("solvers")
        original["spec"]["acme"].pop("solvers")
        assert rendered == original, "only the solvers change"
        assert solvers == [{"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "mybinder", "sectionName": "http"}]}}}]
    # The Role grants what the Gateway path needs.
    role = rules_of(find(objects, "Role", "prod.certctl")[0])
    assert role[(("gateway.networking.k8s.io",), ("httproutes",))] == ["list", "create", "delete"]


def test_gateway_routing_without_the_gateway_api_grant_is_refused():
    for half in [{"routing": "gateway"}, {"routing": "gateway", "certctl": {"gatewayAPI": True}}]:
        with pytest.raises(helm.HelmRenderError, match="routing: gateway needs certctl.gatewayAPI: true and certctl.issuers.http01.gatewayHTTPRoute"):
            render("prod", half)
    with pytest.raises(helm.HelmRenderError, match='routing is "gateways": it must be ingress or gateway'):
        render("prod", {"routing": "gateways"})


def test_gateway_objects_match_the_repository():
    """tests/chart/gateway-prod.yaml is the prod Gateway and its routes as rendered: the Swift
    suite creates them in the fake API server (the Gateway API CRDs' schemas and rules) and
    runs certctl on them. They must not drift apart."""
    objects, _ = render("prod", GATEWAY)
    rendered = [o for o in objects if o["kind"] in ("Gateway", "HTTPRoute")]
    fixture = [d for d in yaml.safe_load_all((REPOSITORY / "tests" / "chart" / "gateway-prod.yaml").read_text()) if d]
    assert fixture == rendered
