"""certctl's RBAC as the chart renders it, held to the requests certctl makes
(certctl-api-use-by-namespace.json): the pods' permissions are built from the rendered Roles,
ClusterRoles and bindings alone (no namespace or grant added by the test), every request in
every namespace must be allowed, and nothing may be granted that no request needs."""

import json

import helm_python as helm
import pytest

from chartlib import REPOSITORY, Authorizer, find, render, split, unversioned

USE = json.loads((REPOSITORY / "tests" / "chart" / "certctl-api-use-by-namespace.json").read_text())
SWITCHES = ["http01EditInPlace", "gatewayAPI", "issuersFromCluster"]

# The documented install, the default (the release namespace managed), and every switch with
# the release namespace among the managed ones.
CASES = {
    "documented": ("certctl", "certctl", {"namespaces": ["web", "docs"]}),
    "default": ("certctl", "certctl", {}),
    "every switch, own namespace managed too": (
        "tls", "infra",
        {"namespaces": ["infra", "web"], "http01EditInPlace": True, "gatewayAPI": True, "issuersFromCluster": True},
    ),
    "every switch, other names": (
        "edge", "certs",
        {"namespaces": ["web"], "gatewayAPI": True, "issuersFromCluster": True, "fullnameOverride": "tls-keeper",
         "serviceAccount": {"name": "tls-job"}, "exporter": {"serviceAccount": {"name": "tls-exporter"}}},
    ),
}


def requests(component, values, namespace):
    """What `component` (job, exporter) asks, by namespace (None: cluster-scoped), as
    {namespace: {(verb, group/version/resource, name)}}."""
    managed = values.get("namespaces") or [namespace]
    table = USE[component]
    parts = [table]
    for switch in SWITCHES:
        if values.get(switch):
            parts.append(table[switch])
    asked = {}
    for part in parts:
        for where, entries in part.items():
            if where not in ("own", "managed", "cluster"):
                continue
            places = {"own": [namespace], "managed": managed, "cluster": [None]}[where]
            for place in places:
                for verb, collection, name in entries:
                    names = managed if name == "{managed}" else [name]
                    for one in names:
                        asked.setdefault(place, set()).add((verb, collection, one))
    return asked


def accounts(objects, namespace):
    """The ServiceAccounts the rendered pods run as: the job's, the test hook's, the exporter's."""
    job = find(objects, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"]
    hook = find(objects, "Pod")[0]["spec"]["serviceAccountName"]
    assert hook == job, "the test hook checks with the job's identity"
    exporter = find(objects, "Deployment")[0]["spec"]["template"]["spec"]["serviceAccountName"]
    return {"job": (namespace, job), "exporter": (namespace, exporter)}


@pytest.mark.parametrize("case", CASES)
def test_every_request_is_allowed_and_nothing_else_is_granted(case):
    release, namespace, values = CASES[case]
    objects, _ = render(values, name=release, namespace=namespace)
    rbac = Authorizer(objects)
    for component, account in accounts(objects, namespace).items():
        asked = requests(component, values, namespace)
        assert namespace in asked, "certctl always asks in its own namespace"
        for where, entries in asked.items():
            for verb, collection, name in sorted(entries, key=str):
                assert rbac.allowed(account, verb, collection, where, name), (
                    f"{component} ({account[1]}) may not {verb} {collection} {name or ''} in {where or 'the cluster'}")
        # Nothing more: every grant answers a request (a grant narrowed to a name, that name).
        places = set(asked) | {o["metadata"].get("namespace") for o in find(objects, "RoleBinding")} | {None}
        for where in places:
            needed = {(verb, unversioned(collection), name) for verb, collection, name in asked.get(where, set())}
            assert rbac.grants(account, where) == needed, f"{component} in {where or 'the cluster'}"


def test_the_documented_install_grants_its_own_namespace():
    """`helm install certctl mybinder/charts/certctl -n certctl --set namespaces='{web,docs}'`:
    the job takes its Lease, reads and writes its ACME accounts and run history in certctl, and
    the exporter reads the run history there; web and docs grant neither the Lease nor more."""
    objects, _ = render({"namespaces": ["web", "docs"]})
    rbac = Authorizer(objects)
    job, exporter = ("certctl", "certctl"), ("certctl", "certctl-exporter")
    lease = "coordination.k8s.io/v1/leases"
    assert rbac.allowed(job, "create", lease, "certctl")
    for verb in ["get", "patch"]:
        assert rbac.allowed(job, verb, lease, "certctl", "certctl-run")
        assert not rbac.allowed(job, verb, lease, "certctl", "another-lease"), "narrowed to certctl-run"
    assert not rbac.allowed(job, "update", lease, "certctl", "certctl-run"), "certctl patches, never updates"
    assert not rbac.allowed(job, "delete", lease, "certctl", "certctl-run")
    for verb in ["get", "create", "patch"]:
        assert rbac.allowed(job, verb, "v1/secrets", "certctl", "letsencrypt-prod-account")
    assert not rbac.allowed(job, "list", "v1/secrets", "certctl"), "no TLS Secrets are read where none are managed"
    assert rbac.allowed(job, "patch", "v1/configmaps", "certctl", "certctl-run-history")
    assert not rbac.allowed(job, "patch", "v1/configmaps", "certctl", "certctl-issuers")
    assert rbac.allowed(exporter, "get", "v1/configmaps", "certctl", "certctl-run-history")
    assert rbac.allowed(exporter, "get", lease, "certctl", "certctl-run")
    assert not rbac.allowed(exporter, "get", "v1/secrets", "certctl", "letsencrypt-prod-account"), "no account keys"
    for managed in ["web", "docs"]:
        for account in [job, exporter]:
            for verb in ["get", "list", "create", "update", "patch", "delete"]:
                assert not rbac.allowed(account, verb, lease, managed, "certctl-run"), f"{verb} Lease in {managed}"
        assert rbac.allowed(job, "patch", "v1/secrets", managed, "tls-site")
        assert rbac.allowed(job, "create", "events.k8s.io/v1/events", managed)
    # A namespace neither managed nor the release's: nothing.
    for verb, collection in [("list", "networking.k8s.io/v1/ingresses"), ("get", "v1/secrets"), ("create", lease)]:
        assert not rbac.allowed(job, verb, collection, "kube-system", "x")
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")


@pytest.mark.parametrize("values", [{"namespaces": ["web", "docs"]}, {}, {"namespaces": ["certctl", "web"], "gatewayAPI": True}])
def test_no_role_in_a_managed_namespace_grants_the_lease(values):
    objects, _ = render(values)
    for role in find(objects, "Role") + find(objects, "ClusterRole"):
        leases = [r for r in role["rules"] if "leases" in r["resources"] or "*" in r["resources"]]
        if role["kind"] == "Role" and role["metadata"]["name"] in ("certctl", "certctl-exporter"):
            assert role["metadata"]["namespace"] == "certctl"
            assert all(r.get("resourceNames") == ["certctl-run"] or r["verbs"] == ["create"] for r in leases), role
            continue
        assert leases == [], f"{role['kind']} {role['metadata'].get('namespace')}/{role['metadata']['name']} grants the Lease"


def test_the_requests_are_what_a_pod_mode_run_was_seen_to_make():
    """certctl-api-use.json is what PodRBACTests saw a run use (prod being certctl's namespace and
    a managed one); the job's requests here, own and managed together, are exactly those."""
    seen = json.loads((REPOSITORY / "tests" / "chart" / "certctl-api-use.json").read_text())
    together = {}
    for verb, collection, _ in USE["job"]["own"] + USE["job"]["managed"]:
        together.setdefault(collection, set()).add(verb)
    assert together == {collection: set(verbs) for collection, verbs in seen.items()}
    # Every collection named is one the chart can grant (a known group and resource).
    for component in ["job", "exporter"]:
        for verb, collection, _ in USE[component]["own"] + USE[component]["managed"]:
            assert split(collection)[1] and verb in {"get", "list", "create", "patch", "delete"}


def test_gateway_api_reads_only_the_managed_namespaces():
    """A ListenerSet whose Gateway takes listeners by a namespace Selector: certctl gets the
    labels of the ListenerSet's namespace, a managed one; the ClusterRole names exactly those."""
    objects, _ = render({"namespaces": ["web", "docs"], "gatewayAPI": True})
    rbac = Authorizer(objects)
    [role] = find(objects, "ClusterRole")
    assert role["metadata"]["name"] == "certctl.certctl-namespaces"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["web", "docs"], "verbs": ["get"]}]
    for account in [("certctl", "certctl"), ("certctl", "certctl-exporter")]:
        assert rbac.allowed(account, "get", "v1/namespaces", None, "web")
        assert not rbac.allowed(account, "get", "v1/namespaces", None, "kube-system")
        assert not rbac.allowed(account, "list", "v1/namespaces", None)
    plain, _ = render({"namespaces": ["web", "docs"]})
    assert not Authorizer(plain).allowed(("certctl", "certctl"), "get", "v1/namespaces", None, "web")


def test_rbac_create_false_makes_no_role_and_service_account_names_are_used():
    values = {"namespaces": ["web"], "rbac": {"create": False}, "gatewayAPI": True, "issuersFromCluster": True,
              "serviceAccount": {"create": False, "name": "platform-certctl"},
              "exporter": {"serviceAccount": {"create": False, "name": "platform-exporter"}}}
    objects, _ = render(values)
    for kind in ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"]:
        assert not find(objects, kind), kind
    assert accounts(objects, "certctl") == {"job": ("certctl", "platform-certctl"), "exporter": ("certctl", "platform-exporter")}
    # A ServiceAccount of its own with annotations (workload identity), bound by every Role.
    annotated = {"namespaces": ["web"], "serviceAccount": {"name": "tls", "annotations": {"iam.gke.io/gcp-service-account": "tls@p.iam.gserviceaccount.com"}}}
    objects, _ = render(annotated)
    account = find(objects, "ServiceAccount", "tls")[0]
    assert account["metadata"]["annotations"] == annotated["serviceAccount"]["annotations"]
    for binding in find(objects, "RoleBinding"):
        if not binding["metadata"]["name"].endswith("exporter"):
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tls", "namespace": "certctl"}]
    with pytest.raises(helm.HelmRenderError, match="serviceAccount.create is false: set serviceAccount.name"):
        render({"serviceAccount": {"create": False}})


@pytest.mark.parametrize("values", [
    {"serviceAccount": {"name": "tls"}, "exporter": {"serviceAccount": {"name": "tls"}}},
    {"serviceAccount": {"name": "certctl-exporter"}},   # the exporter's default name
    {"exporter": {"serviceAccount": {"name": "certctl"}}},  # the job's default name
])
def test_one_name_for_both_service_accounts_created_is_refused(values):
    """Two ServiceAccounts of one name would be one object twice (Helm refuses the release)."""
    with pytest.raises(helm.HelmRenderError, match="the job's and the exporter's ServiceAccounts are both named .* set exporter.serviceAccount.name"):
        render(values)


def test_one_name_for_both_service_accounts_is_fine_when_one_is_made():
    """Created once (the other create: false) or without the exporter: one ServiceAccount, and
    both pods' permissions bound to it."""
    shared = {"serviceAccount": {"name": "tls"}, "exporter": {"serviceAccount": {"name": "tls", "create": False}}}
    objects, _ = render(shared)
    assert [a["metadata"]["name"] for a in find(objects, "ServiceAccount")] == ["tls"]
    assert accounts(objects, "certctl") == {"job": ("certctl", "tls"), "exporter": ("certctl", "tls")}
    quiet, _ = render({"serviceAccount": {"name": "tls"}, "exporter": {"enabled": False, "serviceAccount": {"name": "tls"}}})
    assert [a["metadata"]["name"] for a in find(quiet, "ServiceAccount")] == ["tls"]
