"""What the chart tests share: rendering certctl's chart with the real Helm v4 engine
(helm-python-sdk) as `helm install` or `helm template --api-versions` would, validating what it
renders (Kubernetes 1.36's schemas; the Prometheus operator's CRDs for its kinds), and an RBAC
authorizer over the rendered objects alone."""

import functools
import json
import pathlib
import re

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml
from helm_python import _native

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
CHART = REPOSITORY / "mybinder" / "charts" / "certctl"
KUBERNETES_VERSION = "1.36"
OPERATOR_CRDS = REPOSITORY / "tests" / "prometheus-operator-crds"
# What a cluster with the Prometheus operator serves (helm template --api-versions ...).
OPERATOR_API = ["monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor",
                "monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule"]


class StrictLoader(yaml.SafeLoader):
    """YAML as the API server's decoder takes it: a key twice in one mapping (commonLabels
    repeating a label the chart sets) is an error, not the last value silently kept."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def objects_of(manifests):
    objects = []
    for path, text in manifests.items():
        if not path.endswith("NOTES.txt"):
            objects += [document for document in yaml.load_all(text, Loader=StrictLoader) if document]
    return objects


def render_manifests(values=None, chart=None, name="certctl", namespace="certctl", api_versions=None):
    """As `helm install NAME CHART -n NAMESPACE` renders; api_versions: what the cluster serves
    beyond Kubernetes' own (.Capabilities.APIVersions). Chart.render has no such option, so the
    SDK's C entry point is called with the render options it takes (kube_version, api_versions)."""
    chart = chart or helm.Chart.load(str(CHART))
    options = {"name": name, "namespace": namespace, "is_install": True, "kube_version": "v1.36.0"}
    if api_versions:
        options["api_versions"] = list(api_versions)
    rendered = _native.call_string("helm_render", chart._raw(), json.dumps(values or {}), json.dumps(options))
    return json.loads(rendered)


def render(values=None, **options):
    manifests = render_manifests(values, **options)
    return objects_of(manifests), manifests


def find(objects, kind, name=None, namespace=None):
    return [
        o for o in objects
        if o["kind"] == kind
        and (name is None or o["metadata"]["name"] == name)
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]


def strict(schema):
    """A CRD's schema as the API server applies it, made to refuse what it would prune: an object
    with properties and no additionalProperties or preserve-unknown-fields takes no other key."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@functools.cache
def operator_schemas():
    schemas = {}
    for path in sorted(OPERATOR_CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


def validate(objects):
    """Kubernetes' own kinds against the 1.36 schemas (strict: no unknown field); the Prometheus
    operator's against its v0.93.0 CRDs, their metadata as Kubernetes' ObjectMeta."""
    for document in objects:
        key = (document["apiVersion"], document["kind"])
        if document["apiVersion"].startswith("monitoring.coreos.com/"):
            assert key in operator_schemas(), f"no CRD for {key}"
            jsonschema.Draft7Validator(operator_schemas()[key]).validate(document)
            meta = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": document["metadata"]}
            kubernetes_validate.validate(meta, KUBERNETES_VERSION, strict=True)
            continue
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
RBAC_KINDS = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def name_problems(objects):
    """What the API server's validation says of each object's name and labels, which the
    OpenAPI schemas do not carry: a Service's name is a DNS-1035 label (63, a letter first), a
    CronJob's a DNS subdomain of at most 52 characters (its Jobs add 11), RBAC names a path
    segment, every other a DNS subdomain (253); label values 63 characters of the allowed ones."""
    problems = []
    for document in objects:
        kind, meta = document["kind"], document["metadata"]
        name = meta["name"]
        if kind == "Service":
            ok = len(name) <= 63 and re.match(r"^[a-z]([-a-z0-9]*[a-z0-9])?$", name)
        elif kind in RBAC_KINDS:
            ok = name not in (".", "..") and "/" not in name and "%" not in name
        elif kind == "CronJob":
            ok = len(name) <= 52 and SUBDOMAIN.match(name)
        else:
            ok = len(name) <= 253 and SUBDOMAIN.match(name)
        if not ok:
            problems.append(f"{kind} name {name!r}")
        for key, value in (meta.get("labels") or {}).items():
            if len(str(value)) > 63 or not LABEL_VALUE.match(str(value)):
                problems.append(f"{kind} {name}: label {key}={value!r}")
    return problems


def lint_findings(path, values, **options):
    """`helm lint --strict` at Kubernetes 1.36: every message of severity warning or worse."""
    report = helm.lint(str(path), values, strict=True, kube_version="v1.36.0", **options)
    return report["errors"] + [m["error"] for m in report["messages"] if m["severity"] >= 2]


class Authorizer:
    """Kubernetes' RBAC over the rendered objects only: the Roles, ClusterRoles and their
    bindings a release made, nothing the test adds. allowed() answers as the API server's RBAC
    authorizer does (a rule with resourceNames matches only a request naming one of them)."""

    def __init__(self, objects):
        self.roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o.get("rules", []) for o in find(objects, "Role")}
        self.cluster_roles = {o["metadata"]["name"]: o.get("rules", []) for o in find(objects, "ClusterRole")}
        self.bindings = find(objects, "RoleBinding") + find(objects, "ClusterRoleBinding")

    def rules(self, account, namespace, bound=("RoleBinding", "ClusterRoleBinding")):
        """The rules that apply to ServiceAccount `account` (namespace, name) in `namespace`
        (None: cluster-scoped objects), through bindings of the kinds `bound`."""
        found = []
        for binding in self.bindings:
            if binding["kind"] not in bound:
                continue
            subjects = binding.get("subjects", [])
            if not any(s["kind"] == "ServiceAccount" and (s["namespace"], s["name"]) == account for s in subjects):
                continue
            reference = binding["roleRef"]
            where = binding["metadata"].get("namespace")
            if binding["kind"] == "RoleBinding" and where != namespace:
                continue
            if reference["kind"] == "Role":
                found += self.roles.get((where, reference["name"]), [])
            else:
                found += self.cluster_roles.get(reference["name"], [])
        return found

    def allowed(self, account, verb, collection, namespace, name=None):
        group, resource = split(collection)
        for rule in self.rules(account, namespace):
            if group not in rule.get("apiGroups", []) and "*" not in rule.get("apiGroups", []):
                continue
            if resource not in rule.get("resources", []) and "*" not in rule.get("resources", []):
                continue
            if verb not in rule.get("verbs", []) and "*" not in rule.get("verbs", []):
                continue
            names = rule.get("resourceNames")
            if names and name not in names:
                continue
            return True
        return False

    def grants(self, account, namespace):
        """Every (verb, group/resource, name or None) granted in `namespace` by its RoleBindings,
        or with None cluster-wide by ClusterRoleBindings."""
        granted = set()
        bound = ("ClusterRoleBinding",) if namespace is None else ("RoleBinding",)
        for rule in self.rules(account, namespace, bound):
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in rule.get("resourceNames") or [None]:
                            granted.add((verb, f"{group}/{resource}", name))
        return granted


def split(collection):
    """`group/version/resource` or `version/resource` (the core group) -> (group, resource)."""
    parts = collection.split("/")
    return (parts[0] if len(parts) == 3 else ""), parts[-1]


def unversioned(collection):
    group, resource = split(collection)
    return f"{group}/{resource}"
